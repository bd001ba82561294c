#!/usr/bin/env bash
# Every module a target imports is declared in Package.swift: SwiftPM builds an undeclared
# import that happens to be built by a neighbour, until a change in build order breaks it.
# Reads `swift package describe --type json` and each target's `import` lines.
set -euo pipefail
cd "$(dirname "$0")/.."
swift package describe --type json 2>/dev/null | python3 -c '
import json, pathlib, re, sys
package = json.load(sys.stdin)
system = {"Foundation", "FoundationEssentials", "Glibc", "Dispatch", "XCTest", "Synchronization", "Darwin", "os"}
problems = 0
for target in package["targets"]:
    name = target["name"]
    declared = set(target.get("target_dependencies", [])) | set(target.get("product_dependencies", []))
    imported = set()
    for source in target.get("sources", []):
        text = (pathlib.Path(target["path"]) / source).read_text(errors="replace")
        imported |= set(re.findall(r"^(?:@testable |@_exported )?import (\w+)", text, re.M))
    for module in sorted(imported - declared - system - {name}):
        print(name + " imports " + module + " without declaring it in Package.swift")
        problems += 1
print("imports checked: %d targets, %d undeclared" % (len(package["targets"]), problems))
sys.exit(1 if problems else 0)
'
