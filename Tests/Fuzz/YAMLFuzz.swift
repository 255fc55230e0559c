// libFuzzer target for the YAML parser and decoder (`make fuzz`). Built outside SwiftPM with
// -sanitize=fuzzer,address together with Sources/YAML; see scripts/fuzz.

private struct Column: Decodable {
    var type: String?
    var null: Bool?
    var values: [String]?
    var size: Int?
    var ratio: Double?
    var extra: YAMLValue?
}

private struct Table: Decodable {
    var key: [String]?
    var columns: [String: Column]?
    var comment: String?
}

private struct Document: Decodable {
    var tables: [String: Table]?
    var attrs: YAMLValue?
    var list: [Int]?
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let decoder = YAMLDecoder(parser: YAMLParser(limits: .init(maxExpandedNodes: 100_000, maxDepth: 100)))
    if let document = try? decoder.decode(Document.self, from: bytes, file: "fuzz.yaml") {
        _ = document.attrs?.jsonText
    }
    _ = try? YAMLParser().parseAll(bytes, file: "fuzz.yaml")
    return 0
}
