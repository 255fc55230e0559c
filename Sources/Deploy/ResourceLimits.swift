import Glibc

/// What a deploy needs from the process's limits, checked before the first host is touched: a deploy that runs
/// out of descriptors half-way fails hosts with errors about sockets rather than about the limit.
public struct ResourceLimits: Sendable {
    /// Descriptors one host in flight holds at most: its SSH socket, a jump host's tunnel (a socket pair and a
    /// second socket), and the file being sent.
    public static let descriptorsPerHost: rlim_t = 6
    /// Descriptors the deployer holds apart from hosts: standard streams, the journal, the bundle cache, libgit2.
    public static let descriptorsBase: rlim_t = 64
    /// RLIM_INFINITY (its C definition does not import).
    static let unlimited = rlim_t.max

    /// Makes room for `hosts` in flight at once: raises the soft descriptor limit toward the hard one when it
    /// is too low (as the kernel allows any process to), and refuses with what to change when even the hard
    /// limit, or the thread limit of a non-root user, is too low.
    public static func ensure(hostsInFlight hosts: Int, option: String) throws(DeployError) {
        let hosts = rlim_t(max(1, hosts))
        let needed = descriptorsBase + descriptorsPerHost * hosts
        var files = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &files) == 0, files.rlim_cur != unlimited, files.rlim_cur < needed {
            if files.rlim_max == unlimited || files.rlim_max >= needed {
                var raised = files
                raised.rlim_cur = needed
                _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised)
                _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &files)
            }
            if files.rlim_cur < needed {
                throw DeployError(
                    "\(hosts) hosts in flight need about \(needed) open files, but this process may open \(files.rlim_cur) (hard limit \(files.rlim_max)): raise `ulimit -n` or lower \(option)"
                )
            }
        }
        // One thread per host in flight; root is not held to RLIMIT_NPROC.
        var threads = rlimit()
        if geteuid() != 0, getrlimit(Int32(__RLIMIT_NPROC.rawValue), &threads) == 0, threads.rlim_cur != unlimited,
            threads.rlim_cur < hosts + 16
        {
            throw DeployError(
                "\(hosts) hosts in flight need \(hosts) threads, but this user may run \(threads.rlim_cur) processes and threads: raise `ulimit -u` or lower \(option)"
            )
        }
    }
}
