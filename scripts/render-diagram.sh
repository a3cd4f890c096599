#!/bin/sh
# Renders the flow diagram of the README and the Marketplace overview from its SVG source:
#   scripts/render-diagram.sh
# Needs rsvg-convert and pngquant (Debian/Ubuntu: apt-get install librsvg2-bin pngquant) and the
# DejaVu fonts. pngquant cuts the picture to a quarter of its size, and so the vsix.
set -eu
cd "$(dirname "$0")/.."
full=$(mktemp)
trap 'rm -f "$full"' EXIT
rsvg-convert --width 1280 --height 800 --background-color white \
  --format png --output "$full" docs/diagrams/anka-flow.svg
pngquant --quality=70-90 --speed 1 --strip --force --output images/anka-flow.png - <"$full"
echo "wrote images/anka-flow.png ($(wc -c <images/anka-flow.png) bytes)"
