import Glibc

/// A failed system call: what was being done, in words naming the file, and the errno it failed with.
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was being done, e.g. "write etc/app.conf".
    public var operation: String
    public var code: Int32

    /// Captures `errno` as it is now: create it right after the failed call.
    public init(_ operation: String, code: Int32 = errno) {
        self.operation = operation
        self.code = code
    }

    public var description: String { "\(operation): \(Self.describe(code))" }

    /// The words for an errno, saying what to do where the cause is a limit the operator sets.
    public static func describe(_ code: Int32) -> String {
        switch code {
        case ENOSPC: return "the disk is full (no space left on device)"
        case EMFILE: return "too many open files (this process's descriptor limit: raise `ulimit -n`)"
        case ENFILE: return "too many open files in the system (raise fs.file-max)"
        default: return String(cString: strerror(code))
        }
    }
}

/// Runs `call` again while it fails with EINTR (a signal arrived), and returns what it finally returned.
@inline(__always)
public func retryingInterrupts<Result: BinaryInteger>(_ call: () -> Result) -> Result {
    while true {
        let result = call()
        if result >= 0 || errno != EINTR { return result }
    }
}

/// Writes all of `bytes` to `fd`, through short writes and interrupted calls.
public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, display: String) throws(SystemError) {
    var offset = 0
    while offset < bytes.count {
        let n = retryingInterrupts { Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset) }
        guard n > 0 else { throw SystemError("write \(display)", code: n == 0 ? EIO : errno) }
        offset += n
    }
}

/// Reads from `fd` until end of file, refusing more than `limit` bytes: nothing read is unbounded.
public func readAll(_ fd: Int32, limit: Int, display: String) throws(SystemError) -> [UInt8] {
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { buffer in
            retryingInterrupts { Glibc.read(fd, buffer.baseAddress, buffer.count) }
        }
        guard n >= 0 else { throw SystemError("read \(display)") }
        if n == 0 { return out }
        guard out.count + n <= limit else {
            throw SystemError("read \(display) (larger than \(limit) bytes)", code: EFBIG)
        }
        out.append(contentsOf: chunk[0..<n])
    }
}
