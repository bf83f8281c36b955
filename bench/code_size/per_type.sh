#!/bin/sh
# The code one more element type costs, the README's usage (create, attach,
# []): .text of per_type.cpp built for 8 element types minus 1, divided by 7.
# Usage: bench/code_size/per_type.sh [TREE] [COMPILER]
#   e.g. bench/code_size/per_type.sh . g++   (TREE: a checkout; its include/ is used)
set -e
tree=${1:-.}
cxx=${2:-g++}
here=$(dirname "$0")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for n in 1 8; do
  "$cxx" -std=c++20 -O2 -DTYPES=$n -I"$tree/include" "$here/per_type.cpp" -o "$work/per_type_$n"
  eval "text_$n=$(size -A "$work/per_type_$n" | awk '$1 == ".text" {print $2}')"
done
echo "$cxx: .text with 1 type $text_1, with 8 types $text_8; per extra type $(((text_8 - text_1) / 7)) bytes"
