/* Test-only stand-in for Terraform as the parent of the windows plugin under wine:
 *
 *     wine_parent.exe PLUGIN [ARGS...]
 *
 * starts PLUGIN (a Unix path is mapped to wine's Z: drive) as its child, with this process's
 * standard handles, and waits for it, as Terraform does. tests/smoke_binary.rs kills this
 * process outright and expects the plugin to notice and exit. */
#include <stdio.h>
#include <string.h>
#include <windows.h>

int main(int argc, char **argv)
{
    char cmd[32768] = "";
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    DWORD code = 1;
    int i;

    if (argc < 2) {
        fprintf(stderr, "usage: wine_parent.exe PLUGIN [ARGS...]\n");
        return 2;
    }
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        size_t at = strlen(cmd);
        if (at + strlen(arg) + 8 >= sizeof cmd)
            return 2;
        cmd[at++] = '"';
        if (i == 1 && arg[0] == '/') {
            cmd[at++] = 'Z';
            cmd[at++] = ':';
        }
        for (; *arg; arg++)
            cmd[at++] = (i == 1 && *arg == '/') ? '\\' : *arg;
        cmd[at++] = '"';
        cmd[at++] = ' ';
        cmd[at] = '\0';
    }
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    si.hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
    si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    if (!CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
        fprintf(stderr, "wine_parent: cannot start %s: error %lu\n", cmd, GetLastError());
        return 2;
    }
    WaitForSingleObject(pi.hProcess, INFINITE);
    GetExitCodeProcess(pi.hProcess, &code);
    return (int)code;
}
