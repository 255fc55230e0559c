// swift-tools-version:6.0
import PackageDescription

/// Redeye: declarative provisioning and self-deploy for Linux fleets.
///
/// Layers (a lower layer never imports a higher one):
///   C modules    CYAML CGit2 CSSH2 CSQLite CLibPQ   module maps over the system libraries
///   C modules    … CCrypto (libcrypto, for SHA-256), CLinux (glibc's GNU-only calls: syncfs, openat2), CZlib
///                (zlib, for the netboot image's gzip), CZstd (zstd.h; libzstd opened at run time), CTLS
///                (libssl, for https)
///   wrappers     FileSystem                         directories by descriptor: no symlink followed beneath a root
///   wrappers     Text, Threads                      trimming, fixed-point numbers, timestamps, JSON values, paths;
///                                                   detached threads: what Foundation gave, without ICU
///   wrappers     Failures                           the kinds of failure errors classify themselves by
///   wrappers     YAML  Git   SSH   Database  Digest owning Swift types, typed errors
///   network      Net                                TCP connect with a deadline, a small HTTP/1.1 client
///   network      TLS                                TLS client on the system OpenSSL: verified certificates
///   capability   Settings                           redeye.yaml and REDEYE_* variables: the operator's settings
///   capability   Schema, Inventory                  schemagen and primary-key record access
///   capability   Plan, Bundles, Service              role plans in git, least-bit installs, starting services
///   capability   Deploy, Boot                       rolling deploys over SSH; the boot agent
///   capability   Image                              netboot images for blank hosts (cpio, gzip, kernel modules)
///   command line RedeyeCommands (library), redeye (thin executable)
let package = Package(
    name: "redeye",
    products: [
        .executable(name: "redeye", targets: ["redeye"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
    ],
    targets: [
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CGit2", pkgConfig: "libgit2", providers: [.apt(["libgit2-dev"])]),
        .systemLibrary(name: "CSSH2", pkgConfig: "libssh2", providers: [.apt(["libssh2-1-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CTLS", pkgConfig: "libssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CLinux"),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Header only: libzstd is opened at run time by `image build` (the agent an image carries never links it).
        .systemLibrary(name: "CZstd", providers: [.apt(["libzstd-dev"])]),

        .target(name: "YAML", dependencies: ["CYAML"]),
        .target(name: "Git", dependencies: ["CGit2", "TLS", "Text"]),
        .target(name: "FileSystem", dependencies: ["CLinux"]),
        .target(name: "Failures"),
        .target(name: "Text"),
        .target(name: "Threads"),
        .target(name: "Settings", dependencies: ["YAML", "FileSystem", "Text"]),
        .target(name: "InstallRoot"),
        .target(name: "Spawn", dependencies: ["CLinux", "FileSystem"]),
        .target(name: "Net", dependencies: ["FileSystem", "Text"]),
        .target(name: "SSH", dependencies: ["CSSH2", "Net", "FileSystem", "Text", "Threads"]),
        .target(name: "TLS", dependencies: ["CTLS", "Net", "FileSystem"]),
        .target(name: "Digest", dependencies: ["CCrypto"]),
        .target(name: "Signing", dependencies: ["CCrypto", "Digest", "FileSystem", "Text"]),
        .target(name: "Database", dependencies: ["CSQLite", "CLibPQ", "Text"]),
        .target(name: "Schema", dependencies: ["YAML", "Database", "Digest", "Failures", "FileSystem", "Text"]),
        .target(name: "Inventory", dependencies: ["Schema", "Database", "YAML", "Failures", "Text"]),
        .target(name: "Plan", dependencies: ["YAML", "Database", "Schema", "Inventory", "Git", "Signing", "Text"]),
        .target(
            name: "Bundles",
            dependencies: [
                "YAML", "Git", "SSH", "Digest", "FileSystem", "InstallRoot", "Spawn", "Service", "Failures", "Signing",
                "Text", "Threads",
            ]),
        .target(name: "Service", dependencies: ["InstallRoot", "Spawn", "FileSystem", "Text", "Threads"]),
        .target(
            name: "Deploy",
            dependencies: [
                "SSH", "Net", "TLS", "Git", "Bundles", "InstallRoot", "Plan", "Inventory", "Schema", "Database", "Digest",
                "Failures", "Text", "Threads",
            ]),
        .target(
            name: "Boot",
            dependencies: [
                "Net", "Git", "TLS", "SSH", "Signing", "Plan", "Bundles", "Service", "Inventory", "Schema", "Database", "YAML",
                "FileSystem", "InstallRoot", "Text",
            ]),
        .target(name: "Image", dependencies: ["CZlib", "CZstd", "FileSystem", "Spawn", "Schema", "Text"]),
        .target(
            name: "RedeyeCommands",
            dependencies: [
                "YAML", "Git", "Net", "SSH", "Database", "Schema", "Inventory", "Plan", "Signing", "Bundles", "Service",
                "Deploy", "Boot", "Image", "InstallRoot", "Failures", "Settings", "FileSystem", "TLS", "Text",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "redeye", dependencies: ["RedeyeCommands"]),

        .target(name: "TestSupport", dependencies: ["Database", "TLS"], path: "Tests/TestSupport"),
        .testTarget(name: "YAMLTests", dependencies: ["YAML"]),
        .testTarget(name: "TextTests", dependencies: ["Text", "Threads"]),
        .testTarget(name: "CLibraryTests", dependencies: ["Git", "SSH", "YAML", "Database"]),
        .testTarget(name: "SchemaTests", dependencies: ["Schema", "Database", "TestSupport"]),
        .testTarget(name: "InventoryTests", dependencies: ["Inventory", "Schema", "Database", "TestSupport"]),
        .testTarget(
            name: "CLITests",
            dependencies: [
                "RedeyeCommands", "TestSupport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "SigningTests", dependencies: ["Signing", "TestSupport"]),
        .testTarget(
            name: "BundleTests",
            dependencies: ["Bundles", "Git", "TLS", "SSH", "Signing", "FileSystem", "Spawn", "CLinux", "TestSupport"]),
        .testTarget(name: "DeployTests", dependencies: ["Deploy", "Bundles", "SSH", "TestSupport"]),
        .testTarget(name: "BootTests", dependencies: ["Boot", "Plan", "Image", "TestSupport"]),
        .testTarget(name: "PlanTests", dependencies: ["Plan", "Git", "Signing", "Inventory", "Schema", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
