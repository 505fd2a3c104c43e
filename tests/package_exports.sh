#!/usr/bin/env bash
# The library boundary: libgen-engine exports the public API (include/gen/, GEN_API) and
# nothing of gen's internals. Fails when a symbol of an internal namespace (gen::pipeline::,
# gen::models::, …) or an unlisted gen:: name is exported.
#   package_exports.sh LIBRARY PUBLIC_INCLUDE_DIR
set -euo pipefail
lib=${1:?usage: package_exports.sh LIBRARY INCLUDE_DIR}
inc=${2:?usage: package_exports.sh LIBRARY INCLUDE_DIR}
syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | c++filt)
gen_syms=$(grep -E '^(typeinfo (name )?for |vtable for )?gen::' <<<"$syms" | sed -E 's/^(typeinfo (name )?for |vtable for )//' || true)
internal='detail|core|io|image|text|models|schedulers|sched|control|editing|request|pipeline|api|frontend|kernels|tensor|pickle|st|torchpk|cli|image_detail|training'
bad=$(grep -E "^gen::($internal)::" <<<"$gen_syms" || true)
# Every exported gen:: name is declared in a public header.
unknown=""
while read -r s; do
  [ -z "$s" ] && continue
  name=$(sed -E 's/^gen::([A-Za-z_0-9]+).*/\1/' <<<"$s")
  grep -rqw -- "$name" "$inc/gen" || unknown+="$s"$'\n'
done <<<"$(sort -u <<<"$gen_syms")"
echo "libgen-engine exports $(grep -c . <<<"$syms") symbols, $(grep -c . <<<"$gen_syms") of them gen::"
if [ -n "$bad" ]; then echo "FAIL: internal symbols exported:"; head -20 <<<"$bad"; exit 1; fi
if [ -n "$unknown" ]; then echo "FAIL: gen:: symbols no public header declares:"; head -20 <<<"$unknown"; exit 1; fi
echo "ok: only the public API is exported"
