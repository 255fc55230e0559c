import FileSystem
import FoundationEssentials
import Glibc
import Text

/// The loadable modules of one kernel (`lib/modules/VERSION` of a kernel package or a root): which exist,
/// which are built in, and what each depends on, read from the modules themselves (their ELF `.modinfo`
/// section), so no `depmod` output is needed: Debian's kernel package ships none.
public struct KernelModules: Sendable {
    public let directory: String
    /// Module name (with `_`, as the kernel spells it) → its path relative to `directory`.
    let files: [String: String]
    let builtIn: Set<String>

    public init(directory: String) throws(ImageError) {
        self.directory = directory
        var files: [String: String] = [:]
        guard let walked = try? FileManager.default.subpathsOfDirectory(atPath: directory + "/kernel") else {
            throw ImageError("\(directory)/kernel: no kernel modules there")
        }
        for relative in walked {
            let name = lastPathComponent(relative)
            if name.hasSuffix(".ko") {
                files[Self.canonical(String(name.dropLast(3)))] = "kernel/" + relative
            } else if name.hasSuffix(".ko.xz") || name.hasSuffix(".ko.zst") || name.hasSuffix(".ko.gz") {
                // busybox insmod loads plain ELF objects only.
                files[Self.canonical(String(name.prefix { $0 != "." }))] = "kernel/" + relative
            }
        }
        self.files = files
        let builtInText = (try? String(contentsOfFile: directory + "/modules.builtin", encoding: .utf8)) ?? ""
        builtIn = Set(
            builtInText.split(separator: "\n").map {
                Self.canonical(String(lastPathComponent(String($0)).prefix { $0 != "." }))
            })
    }

    /// `virtio-net` and `virtio_net` are one module to the kernel.
    static func canonical(_ name: String) -> String { name.replacing("-", with: "_") }

    /// The modules to load for `names`, dependencies first, each once, as paths relative to `directory`.
    /// A module built into the kernel needs nothing; one the kernel has neither way is an error.
    public func loadOrder(_ names: [String]) throws(ImageError) -> [String] {
        var order: [String] = []
        var done = Set<String>()
        var visiting = Set<String>()
        func visit(_ raw: String, wantedBy: String?) throws(ImageError) {
            let name = Self.canonical(raw)
            if done.contains(name) || builtIn.contains(name) { return }
            guard let path = files[name] else {
                let by = wantedBy.map { " (needed by \($0))" } ?? ""
                throw ImageError(
                    "the kernel in \(directory) has no module '\(raw)'\(by), and it is not built in")
            }
            guard path.hasSuffix(".ko") else {
                throw ImageError(
                    "\(directory)/\(path) is compressed: the image's insmod loads uncompressed modules only")
            }
            guard visiting.insert(name).inserted else {
                throw ImageError("modules depend on each other in a circle at '\(name)'")
            }
            for dependency in try Self.dependencies(of: directory + "/" + path) {
                try visit(dependency, wantedBy: name)
            }
            visiting.remove(name)
            done.insert(name)
            order.append(path)
        }
        for name in names { try visit(name, wantedBy: nil) }
        return order
    }

    /// The `depends=` list of a module's `.modinfo` section.
    static func dependencies(of path: String) throws(ImageError) -> [String] {
        let info = try modinfo(path)
        guard let depends = info.first(where: { $0.hasPrefix("depends=") })?.dropFirst("depends=".count) else {
            return []
        }
        return depends.split(separator: ",").map(String.init).filter { !$0.isEmpty }
    }

    static func modinfo(_ path: String) throws(ImageError) -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ImageError("cannot read \(path)") }
        return try modinfo(bytes: [UInt8](data), path: path)
    }

    /// The NUL-separated `key=value` strings of an ELF64 little-endian object's `.modinfo` section. Every offset
    /// is checked against the bytes there are (a module file is input like any other).
    public static func modinfo(bytes: [UInt8], path: String) throws(ImageError) -> [String] {
        func bad(_ why: String) -> ImageError { ImageError("\(path): \(why) (not a kernel module?)") }
        func integer(_ offset: Int, _ size: Int) throws(ImageError) -> Int {
            guard offset >= 0, offset + size <= bytes.count else { throw bad("truncated ELF header") }
            var value = 0
            for i in (0..<size).reversed() { value = value << 8 | Int(bytes[offset + i]) }
            return value
        }
        guard bytes.count >= 64, bytes[0..<4].elementsEqual([0x7f, 0x45, 0x4c, 0x46]) else { throw bad("no ELF magic") }
        guard bytes[4] == 2, bytes[5] == 1 else { throw bad("not a 64-bit little-endian ELF object") }
        let sectionOffset = try integer(0x28, 8)
        let entrySize = try integer(0x3a, 2)
        let count = try integer(0x3c, 2)
        let namesIndex = try integer(0x3e, 2)
        // Bounded before any sum, so no offset the file gives can overflow one.
        guard (0...bytes.count).contains(sectionOffset), (64...4096).contains(entrySize), count > 0, count < 1 << 16,
            namesIndex < count
        else { throw bad("bad section table") }
        func section(_ index: Int) throws(ImageError) -> (name: Int, offset: Int, size: Int) {
            let base = sectionOffset + index * entrySize
            let found = (try integer(base, 4), try integer(base + 0x18, 8), try integer(base + 0x20, 8))
            guard (0...bytes.count).contains(found.0), (0...bytes.count).contains(found.1),
                (0...bytes.count).contains(found.2)
            else { throw bad("section \(index) lies outside the file") }
            return found
        }
        let names = try section(namesIndex)
        for index in 0..<count {
            let candidate = try section(index)
            let start = names.offset + candidate.name
            guard start >= 0, start < bytes.count else { continue }
            let end = bytes[start...].firstIndex(of: 0) ?? bytes.count
            guard bytes[start..<end].elementsEqual(Array(".modinfo".utf8)) else { continue }
            guard candidate.offset >= 0, candidate.size >= 0, candidate.offset + candidate.size <= bytes.count else {
                throw bad(".modinfo runs past the end of the file")
            }
            return bytes[candidate.offset..<(candidate.offset + candidate.size)].split(separator: 0).map {
                String(decoding: $0, as: UTF8.self)
            }
        }
        throw bad("no .modinfo section")
    }
}
