//! The msgpack codec, property-tested: no panic on any input, round trips of what it accepts.

use crate::strategies::{check_property, msgpack_tree, proptest_config, tree_config, value_tree};
use crate::wire::mp_bytes;
use ecsx::protocol::codec;
use proptest::prelude::*;

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn from_msgpack_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = codec::from_msgpack(&bytes);
    }
}

#[test]
fn from_msgpack_never_panics_on_damaged_encodings() {
    let flips = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8);
    let cut = any::<prop::sample::Index>();
    check_property(
        tree_config(),
        (value_tree(), flips, cut),
        |(v, flips, cut)| {
            let mut bytes = codec::to_msgpack(&v);
            for (at, b) in flips {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            let _ = codec::from_msgpack(&bytes);
            let keep = cut.index(bytes.len() + 1);
            let _ = codec::from_msgpack(&bytes[..keep]);
            Ok(())
        },
    );
}

#[test]
fn from_msgpack_never_panics_on_arbitrary_msgpack_trees() {
    check_property(tree_config(), msgpack_tree(), |mp| {
        let bytes = mp_bytes(&mp);
        if let Ok(v) = codec::from_msgpack(&bytes) {
            // Whatever the codec accepts, it can write back and read again unchanged.
            prop_assert_eq!(codec::from_msgpack(&codec::to_msgpack(&v)), Ok(v));
        }
        Ok(())
    });
}

#[test]
fn msgpack_round_trips_value_trees() {
    check_property(tree_config(), value_tree(), |v| {
        prop_assert_eq!(codec::from_msgpack(&codec::to_msgpack(&v)), Ok(v));
        Ok(())
    });
}
