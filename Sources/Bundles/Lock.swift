import Dispatch
import FoundationEssentials
import Glibc
import Synchronization
import Threads

/// A value computed on another thread; `value` waits for it.
final class Background<Value: Sendable>: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let result = Mutex<Value?>(nil)

    init(_ work: @escaping @Sendable () -> Value) {
        detachThread {
            let value = work()
            self.result.withLock { $0 = value }
            self.done.signal()
        }
    }

    var value: Value {
        done.wait()
        defer { done.signal() }
        return result.withLock { $0! }
    }
}

/// An exclusive lock on a file (flock), released by the kernel even if the process is killed.
final class Lock {
    private let fd: Int32

    init(path: String) throws {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw posixError("open the lock \(path)") }
        guard flock(fd, LOCK_EX) == 0 else {
            close(fd)
            throw posixError("lock \(path)")
        }
    }

    func release() { close(fd) }
}
