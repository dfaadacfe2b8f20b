#!/usr/bin/env python3
"""Run the MPI pool suite with every rank in a network namespace of its own.

usage: netns_run.py MPIEXEC PROGRAM

Makes three namespaces ("hosts") and a fourth holding a bridge, joins each
host to the bridge by a veth link (10.77.0.1-3/24), and runs
`mpiexec -n 3 PROGRAM` from the first host with a hostfile of the three
addresses and an rsh agent that enters the namespace owning an address
(with a hostname of its own, so Open MPI sees three nodes). Open MPI is
held to TCP on that subnet (and loopback), so rank 0's tasks really cross
the veth links; MPROC_TEST_NETNS=1 makes PROGRAM also check that the tasks
ran in other namespaces than rank 0. Everything made is removed at the end.
Needs root (ip netns): skipped (exit 77) otherwise.
"""
import os
import shutil
import subprocess
import sys
import tempfile

SKIP = 77
SUBNET = "10.77.0"
HOSTS = 3


def ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def main():
    mpiexec, program = sys.argv[1], sys.argv[2]
    if os.geteuid() != 0:
        print("SKIP: needs root to make network namespaces (ip netns)")
        return SKIP
    if not shutil.which("ip") or not shutil.which("unshare"):
        print("SKIP: needs ip (Debian iproute2) and unshare (util-linux)")
        return SKIP
    tag = f"mproc{os.getpid()}"
    bridge_ns = f"{tag}-br"
    hosts = [f"{tag}-{k}" for k in range(HOSTS)]
    made = []
    tmp = tempfile.mkdtemp(prefix="mproc-netns-")
    try:
        try:
            ip("netns", "add", bridge_ns)
        except subprocess.CalledProcessError as e:
            print(f"SKIP: cannot make a network namespace here: {e.stderr.strip()}")
            return SKIP
        made.append(bridge_ns)
        ip("-n", bridge_ns, "link", "add", "br0", "type", "bridge")
        ip("-n", bridge_ns, "link", "set", "br0", "up")
        for k, ns in enumerate(hosts):
            ip("netns", "add", ns)
            made.append(ns)
            # The pair is made in the bridge's namespace, one end moved out.
            ip("-n", bridge_ns, "link", "add", f"p{k}", "type", "veth", "peer", "name", "eth0",
               "netns", ns)
            ip("-n", bridge_ns, "link", "set", f"p{k}", "master", "br0", "up")
            ip("-n", ns, "addr", "add", f"{SUBNET}.{k + 1}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")

        hostfile = os.path.join(tmp, "hosts")
        with open(hostfile, "w") as f:
            for k in range(HOSTS):
                f.write(f"{SUBNET}.{k + 1} slots=1\n")
        agent = os.path.join(tmp, "agent")
        cases = "".join(f"  {SUBNET}.{k + 1}) ns={ns} ;;\n" for k, ns in enumerate(hosts))
        with open(agent, "w") as f:
            # Called as ssh would be: [options] HOST COMMAND...; the command
            # runs, as ssh runs it, through a shell, in HOST's namespace.
            f.write("#!/bin/sh\n"
                    "while [ \"${1#-}\" != \"$1\" ]; do shift; done\n"
                    "host=$1; shift\n"
                    "case $host in\n" + cases +
                    "  *) echo \"agent: unknown host $host\" >&2; exit 255 ;;\n"
                    "esac\n"
                    "exec ip netns exec \"$ns\" unshare --uts sh -c \"hostname $ns; $*\"\n")
        os.chmod(agent, 0o755)

        env = dict(os.environ, MPROC_TEST_NETNS="1")
        cmd = ["ip", "netns", "exec", hosts[0], "unshare", "--uts", "sh", "-c",
               f'hostname {hosts[0]}; exec "$@"', "sh",
               mpiexec, "-n", str(HOSTS), "--hostfile", hostfile,
               "--mca", "plm_rsh_agent", agent, "--mca", "plm_rsh_no_tree_spawn", "1",
               "--mca", "btl", "tcp,self",
               "--mca", "btl_tcp_if_include", f"{SUBNET}.0/24",
               "--mca", "oob_tcp_if_include", f"{SUBNET}.0/24",
               program]
        print("+", " ".join(cmd), flush=True)
        run = subprocess.run(cmd, env=env, timeout=240)
        return run.returncode
    finally:
        for ns in made:
            # Whatever still runs in there (a stuck orted) goes first.
            pids = ip("netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            ip("netns", "del", ns, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
