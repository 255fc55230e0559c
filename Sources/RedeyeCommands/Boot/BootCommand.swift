import ArgumentParser
import Boot
import FoundationEssentials
import Glibc
import Plan

struct BootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract:
            "The boot agent: learn who this host is, fetch its signed plans, install its bundle, register its monitors, start it.",
        discussion: """
            Run by bootstrap/redeye-boot.service on every boot, after the network is up. Each pass:

              learn     interfaces from /sys/class/net; the boot interface from BOOTIF= on
                        the kernel command line, else the one holding the DHCP lease; the
                        plans URL from DHCP option 224 in the lease of dhclient, systemd-
                        networkd, NetworkManager (DHCP4_PRIVATE_224) or dhcpcd, then DNS
                        (TXT "url=…" at _redeye-plans._tcp.DOMAIN), then redeye.plans= on
                        the kernel command line, then /etc/redeye/plans.url. Each is only
                        a hint.
              fetch     the plans repository through libgit2 into
                        /var/lib/redeye/plans.git (SSH host keys from
                        /etc/redeye/known_hosts, key /etc/redeye/id_ed25519); its commit
                        must carry an SSH signature by a key in
                        /etc/redeye/allowed_signers, and must not be older than the last
                        plans this host trusted. Retries while the server is down;
                        untrusted plans install nothing.
              identify  this machine's MAC in the plans; an unknown machine is enlisted in
                        the inventory (host discovered-MAC, status discovered) for an
                        operator to give it a role.
              install   the role's bundle at its ref through the bundle installer (nothing
                        when already current).
              monitors  Prometheus file_sd targets and a Consul service definition
                        (written atomically), and registration with the local Consul
                        agent, as the plans' monitoring settings say.
              run       the role's systemd units (enabled and started or restarted), or
                        its run command.
              report    the boot in the inventory (table boot) and
                        /run/redeye/status.json.

            Without --once, a pass that fails or enlists is repeated (5 s, doubling to 60 s) until one succeeds. \
            --root puts every path the agent reads or writes under a directory (a test world or an image being \
            built); /sys and /proc/cmdline have their own options.

            EXAMPLES:
              redeye boot --once
              redeye boot --once --plans ssh://git@plans.example/fleet.git --json
              redeye boot --once --root /srv/test/host1 --sys /srv/test/host1/sys --cmdline /srv/test/host1/cmdline
              redeye boot status

            EXIT CODES:
              0   the host runs its role's release (installed now, or already current)
              1   the pass failed (the step and reason are printed and in the status file)
              6   untrusted: no plans with a valid signature by an allowed signer; nothing was installed
              11  enlisted: no host in the plans has this machine's MAC; it waits for an operator
              64  usage
            """,
        subcommands: [Run.self, Status.self],
        defaultSubcommand: Run.self)

    struct Paths: ParsableArguments {
        @Option(
            help: ArgumentHelp("The host's file system root: every path the agent uses is under it.", valueName: "dir"))
        var root: String = "/"
    }

}
