/* Test-only bcryptprimitives.dll for running the windows build under wine 8, which does not
 * ship this DLL. Rust's standard library takes its random bytes from ProcessPrng (Windows 10
 * and later); this one fills the buffer from advapi32's SystemFunction036 (RtlGenRandom),
 * which wine implements over the host's random source. `make smoke-windows` builds it with
 * MinGW-w64 and puts it beside a copy of the exe; it is never part of a release. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
