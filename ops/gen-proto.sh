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

# The KServe v2 / Triton gRPC service's messages and gRPC's health checking messages (module
# NNKServe: NNServer's gRPC front and NNClient's gRPC load generator frame their calls
# themselves over swift-nio-http2, so no service stubs are generated).
grpc_out="$root/Sources/NNKServe"
rm -f "$grpc_out"/*.pb.swift "$grpc_out"/*.grpc.swift
mkdir -p "$grpc_out"
protoc --plugin=protoc-gen-swift="$scratch/src/.build/release/protoc-gen-swift" \
  --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores --swift_out="$grpc_out" \
  -I "$root/proto" "$root"/proto/kserve/*.proto "$root"/proto/grpc/health/v1/health.proto
echo "generated: $(ls "$grpc_out"/*.swift | xargs -n1 basename | tr '\n' ' ')"

# ONNX's messages (module NNOnnx: the importer reads .onnx files, the exporter writes them),
# from proto/onnx/onnx-ml.proto3 (refreshed by ops/update-onnx-proto.sh).
onnx_out="$root/Sources/NNOnnx/Generated"
rm -f "$onnx_out"/*.pb.swift
mkdir -p "$onnx_out"
protoc --plugin=protoc-gen-swift="$scratch/src/.build/release/protoc-gen-swift" \
  --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores --swift_out="$onnx_out" \
  -I "$root/proto" "$root/proto/onnx/onnx-ml.proto3"
echo "generated: $(ls "$onnx_out"/*.swift | xargs -n1 basename | tr '\n' ' ')"

# The Python client's messages (clients/python/nnserve_client/wire_pb2.py), by protoc itself.
protoc -I "$root/proto/nnserve" --python_out="$root/clients/python/nnserve_client" "$root/proto/nnserve/wire.proto"
echo "generated: clients/python/nnserve_client/wire_pb2.py"

# The C client's messages (clients/c/generated), by protoc-c (Debian's protobuf-c-compiler).
command -v protoc-c >/dev/null || { echo "protoc-c missing: apt-get install -y protobuf-c-compiler" >&2; exit 1; }
protoc-c -I "$root/proto/nnserve" --c_out="$root/clients/c/generated" "$root/proto/nnserve/wire.proto"
echo "generated: clients/c/generated/wire.pb-c.c wire.pb-c.h"
