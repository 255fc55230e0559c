import Glibc

/// Starts `body` on a new detached thread: the deploy workers, the SSH tunnel pumps and the reapers block in
/// system calls, which Swift tasks must not. A plain pthread (Foundation's Thread is not in
/// FoundationEssentials). Fails only when the system has no thread left to give.
public func detachThread(stackSize: Int = 1 << 20, _ body: @escaping @Sendable () -> Void) {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    pthread_attr_setstacksize(&attributes, max(stackSize, Int(PTHREAD_STACK_MIN)))
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let created = pthread_create(
        &thread, &attributes,
        { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, context)
    if created != 0 {
        Unmanaged<Box>.fromOpaque(context).release()
        fatalError("cannot start a thread: error \(created)")
    }
}
