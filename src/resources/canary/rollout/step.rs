//! The vocabulary of a rollout: the steps an apply carries out, the task sets they act on, and
//! why each runs (only the rendered line depends on the why).

use crate::resources::canary::model::TaskSetRef;
use crate::resources::ownership::Role;
use std::collections::BTreeMap;

/// A task set a step acts on: one the state records, or one this apply creates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Subject {
    /// Recorded in the state.
    Recorded(TaskSetRef),
    /// Created by this apply.
    ToCreate(NewTaskSet),
}

/// The task sets an apply may create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum NewTaskSet {
    /// The next stable task set.
    Stable,
    /// The next canary task set.
    Canary,
    /// With `promotion = "replace"`: the new version on the idle target group, serving alone
    /// while the stable task set on the primary target group is replaced.
    Bridge,
}

impl NewTaskSet {
    /// The `ecsx:role` tag of the task set: a bridge is tagged like a canary.
    pub(crate) fn role(self) -> Role {
        match self {
            NewTaskSet::Stable => Role::Stable,
            NewTaskSet::Canary | NewTaskSet::Bridge => Role::Canary,
        }
    }

    pub(crate) fn noun(self) -> &'static str {
        match self {
            NewTaskSet::Stable => "stable",
            NewTaskSet::Canary => "canary",
            NewTaskSet::Bridge => "bridge",
        }
    }
}

/// Weights for every router of one kind (managed or test): target group and weight.
pub(crate) type Split = Vec<(String, i32)>;

/// Why a task set goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetireReason {
    /// The canary was rolled back or replaced by a new canary version.
    Canary,
    /// A new stable task set took over.
    OldStable,
    /// The bridge of a `replace` promotion, once the new stable task set serves.
    Bridge,
    /// Owned by the deployment, missing from its state.
    Orphan,
}

/// What a [`Step::Route`] is for; only the rendered line differs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RoutePurpose {
    /// Weights between the stable and the canary.
    Split,
    /// All production traffic to one target group, away from the live one.
    MoveAll,
    /// List a target group at weight 0, because CreateTaskSet refuses a target group that no
    /// listener or rule forwards to.
    Associate,
}

/// Why a [`Step::MakePrimary`] runs; only the rendered line differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrimaryReason {
    /// The first stable task set of the deployment, or one on the same target group.
    First,
    /// The live target group changes to the one of this task set.
    Switch,
    /// PRIMARY moved away from the recorded stable task set.
    Repair,
}

/// One AWS change of an apply, executed in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// Tag a recorded (imported) task set as the deployment's.
    TagOwned { task_set: TaskSetRef, role: Role },
    /// TagResource / UntagResource on a task set that stays: the template's `tags` changed
    /// and nothing else, which AWS changes in place (no new task set, no traffic move).
    Retag {
        task_set: TaskSetRef,
        role: Role,
        label: String,
        set: BTreeMap<String, String>,
        remove: Vec<String>,
    },
    /// CreateTaskSet, then wait until the task set is steady.
    Create {
        new: NewTaskSet,
        task_definition: String,
        scale: f64,
        target_group: String,
    },
    /// UpdateTaskSet, then wait until steady.
    Scale {
        subject: Subject,
        role: Role,
        label: String,
        scale: f64,
    },
    /// Weights on the managed routers (`production`) and/or the test routers (`tests`).
    Route {
        production: Option<Split>,
        tests: Option<Split>,
        purpose: RoutePurpose,
        /// The live target group while this step runs, for the rendered line.
        live: String,
    },
    /// UpdateServicePrimaryTaskSet. `live` is the target group that serves from then on.
    MakePrimary {
        subject: Subject,
        noun: &'static str,
        label: String,
        live: String,
        why: PrimaryReason,
    },
    /// Hold the canary at step `step` (1-based) of a scheduled release for `pause`, reading
    /// `alarms` every check interval (and once even without a pause); any in ALARM rolls the
    /// release back.
    Bake {
        step: usize,
        traffic: i64,
        pause: std::time::Duration,
        alarms: Vec<String>,
        kind: BakeKind,
    },
    /// DeleteTaskSet of a task set no traffic reaches any more.
    Retire {
        subject: Subject,
        reason: RetireReason,
        label: String,
    },
}

/// What a [`Step::Bake`] is for; only the rendered line differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BakeKind {
    /// A step's pause.
    Step,
    /// The rest of a step's pause that an earlier apply did not finish.
    Resumed,
    /// The last alarm check, right before a promotion (`canary.promote`).
    Promotion,
    /// A step of a new stable task set's walk (a template or stable version change); step 0
    /// is the one alarm check before it takes all traffic when there are no steps.
    Replacement,
    /// Step 0 of a judged release (`analysis.judge_test_traffic`): the canary's test traffic
    /// judged before any production traffic moves to it.
    Test,
}

/// One entry of the `schedule` attribute.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScheduledStep {
    pub traffic: i64,
    pub pause: std::time::Duration,
    pub alarms: Vec<String>,
    /// What the built-in judge checks during the step, in words; None without a judge.
    pub judge: Option<String>,
}

/// Everything one apply does, and what the state holds after it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Rollout {
    pub steps: Vec<Step>,
    /// The steps as `rollout_steps` shows them.
    pub lines: Vec<String>,
    /// The stable task set after the apply: the recorded one, the promoted canary, or new.
    pub stable_after: Option<Subject>,
    /// The canary after the apply, if one runs.
    pub canary_after: Option<Subject>,
    /// The target group the stable task set sits on after the apply.
    pub live_after: Option<String>,
    /// The traffic steps the apply walks (the `schedule` attribute).
    pub schedule: Vec<ScheduledStep>,
}
