#!/usr/bin/env bash
# Regenerates Sources/NNFormat/Generated from proto/. Run after editing a .proto file and
# commit the output: the package build never compiles protoc-gen-swift.
#
# protoc comes from Debian's protobuf-compiler. protoc-gen-swift is built once, from the
# swift-protobuf version Package.swift names, in a scratch directory outside the package.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(grep -o 'apple/swift-protobuf", from: "[0-9.]*' "$root/Package.swift" | grep -o '[0-9.]*$')
scratch=${PROTOC_GEN_SWIFT_SCRATCH:-/tmp/nnserve-protoc-gen-swift-$version}

command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler" >&2; exit 1; }
if [ ! -x "$scratch/src/.build/release/protoc-gen-swift" ]; then
  echo "building protoc-gen-swift $version in $scratch (once)"
  rm -rf "$scratch/src"
  mkdir -p "$scratch"
  git clone --quiet --branch "$version" --depth 1 https://github.com/apple/swift-protobuf "$scratch/src"
  (cd "$scratch/src" && swift build -c release --product protoc-gen-swift)
fi

out="$root/Sources/NNFormat/Generated"
rm -f "$out"/*.pb.swift
mkdir -p "$out"
protoc --plugin=protoc-gen-swift="$scratch/src/.build/release/protoc-gen-swift" \
  --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
  --swift_out="$out" -I "$root/proto" "$root"/proto/nnserve/*.proto "$root"/proto/tensorboard/*.proto
echo "generated: $(ls "$out"/*.pb.swift | xargs -n1 basename | tr '\n' ' ')"

# The KServe v2 / Triton gRPC service: messages and server/client stubs (module NNKServe, for
# NNServer's front and NNClient's load generator), from protoc-gen-grpc-swift-2 of the
# grpc-swift-protobuf version Package.swift names.
grpc_version=$(grep -o 'grpc/grpc-swift-protobuf", from: "[0-9.]*' "$root/Package.swift" | grep -o '[0-9.]*$')
grpc_scratch=${PROTOC_GEN_GRPC_SWIFT_SCRATCH:-/tmp/nnserve-protoc-gen-grpc-swift-$grpc_version}
if [ ! -x "$grpc_scratch/src/.build/release/protoc-gen-grpc-swift-2" ]; then
  echo "building protoc-gen-grpc-swift-2 $grpc_version in $grpc_scratch (once)"
  rm -rf "$grpc_scratch/src"
  mkdir -p "$grpc_scratch"
  git clone --quiet --branch "$grpc_version" --depth 1 https://github.com/grpc/grpc-swift-protobuf "$grpc_scratch/src"
  (cd "$grpc_scratch/src" && swift build -c release --product protoc-gen-grpc-swift-2)
fi
grpc_out="$root/Sources/NNKServe"
rm -f "$grpc_out"/*.pb.swift "$grpc_out"/*.grpc.swift
mkdir -p "$grpc_out"
protoc --plugin=protoc-gen-swift="$scratch/src/.build/release/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift="$grpc_scratch/src/.build/release/protoc-gen-grpc-swift-2" \
  --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores --swift_out="$grpc_out" \
  --grpc-swift_opt=Visibility=Public --grpc-swift_opt=FileNaming=PathToUnderscores \
  --grpc-swift_opt=Server=true --grpc-swift_opt=Client=true --grpc-swift_out="$grpc_out" \
  -I "$root/proto" "$root"/proto/kserve/*.proto
echo "generated: $(ls "$grpc_out"/*.swift | xargs -n1 basename | tr '\n' ' ')"

# The Python client's messages (clients/python/nnserve_client/wire_pb2.py), by protoc itself.
protoc -I "$root/proto/nnserve" --python_out="$root/clients/python/nnserve_client" "$root/proto/nnserve/wire.proto"
echo "generated: clients/python/nnserve_client/wire_pb2.py"

# The C client's messages (clients/c/generated), by protoc-c (Debian's protobuf-c-compiler).
command -v protoc-c >/dev/null || { echo "protoc-c missing: apt-get install -y protobuf-c-compiler" >&2; exit 1; }
protoc-c -I "$root/proto/nnserve" --c_out="$root/clients/c/generated" "$root/proto/nnserve/wire.proto"
echo "generated: clients/c/generated/wire.pb-c.c wire.pb-c.h"
