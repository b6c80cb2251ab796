import re,subprocess,sys
def table(hdr, defs):
    out=subprocess.run(["gcc","-E","-dM"]+["-D"+d for d in defs]+["-include",hdr,"-x","c","/dev/null"],capture_output=True,text=True,check=True).stdout
    m={}
    for l in out.splitlines():
        r=re.match(r"#define (__NR3264_\w+|__NR_\w+) (.*)",l)
        if r: m[r.group(1)]=r.group(2).strip()
    def ev(v,d=0):
        v=v.strip("() ")
        if v.isdigit(): return int(v)
        r=re.match(r"(__NR\w*) \+ (\d+)",v)
        if r: return ev(m[r.group(1)],d+1)+int(r.group(2))
        if v in m: return ev(m[v],d+1)
        raise ValueError(v)
    res={}
    for k,v in m.items():
        if not k.startswith("__NR_") or k in("__NR_syscalls","__NR_arch_specific_syscall"): continue
        try: res[k[5:]]=ev(v)
        except Exception as e: print("skip",k,v,file=sys.stderr)
    return sorted(res.items(), key=lambda kv:kv[1])
x=table("/usr/include/x86_64-linux-gnu/asm/unistd_64.h",[])
a=table("/usr/include/asm-generic/unistd.h",["__BITS_PER_LONG=64","__ARCH_WANT_RENAMEAT","__ARCH_WANT_NEW_STAT","__ARCH_WANT_SET_GET_RLIMIT","__ARCH_WANT_SYS_CLONE3","__ARCH_WANT_MEMFD_SECRET"])
def emit(name,t,doc):
    s=f"/// {doc}\npub const {name}: &[(&str, u32)] = &[\n"
    for n,v in t: s+=f'    ("{n}", {v}),\n'
    return s+"];\n"
print("//! Syscall numbers by name, generated from the kernel's uapi headers")
print("//! (`asm/unistd_64.h` for x86_64; `asm-generic/unistd.h` with arm64's `__ARCH_WANT_*` for")
print("//! aarch64; `asm/unistd_32.h` for i386) by `scripts/gen-syscalls.py`. Sorted by number.\n")
print(emit("X86_64",x,"x86_64 (the 64-bit ABI; x32 calls carry bit 30 and are refused)."))
print(emit("AARCH64",a,"aarch64."))
i=table("/usr/include/x86_64-linux-gnu/asm/unistd_32.h",[])
print(emit("I386",i,"i386 (x86's 32-bit ABI): names only matter here, to tell a call of another arch from a typo."))
print(len(x),len(a),file=sys.stderr)
