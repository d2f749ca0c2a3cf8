#!/bin/sh
# A commit's tree as a directory that exp-docs-variants.ts can run: `bench/src/lib/variant-tree.sh <commit> <dir>`,
# run in a checkout whose node_modules is installed. The tree's node_modules links every installed package
# except @clouddocs/*, which point at the tree's own packages.
set -eu
commit=$1 dir=$2
root=$(git rev-parse --show-toplevel)
rm -rf "$dir" && mkdir -p "$dir/node_modules/@clouddocs"
git -C "$root" archive "$commit" | tar -x -C "$dir"
for entry in "$root"/node_modules/* "$root"/node_modules/.bin; do
  [ "$(basename "$entry")" = @clouddocs ] || ln -s "$entry" "$dir/node_modules/"
done
for link in "$root"/node_modules/@clouddocs/*; do
  ln -s "$(readlink "$link")" "$dir/node_modules/@clouddocs/$(basename "$link")"
done
