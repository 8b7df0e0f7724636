#!/usr/bin/env bash
# Install the text-to-speech engines, voices, sox and texts that the corpus builder
# (wav2vec2_conformer/corpus.py, scripts/build_corpus.py) uses. Debian bookworm, run as root.
# Idempotent: running it twice changes nothing the second time.
#
# mbrola, its voices and pico live in Debian's contrib and non-free components, so this
# script first adds those components to the existing apt sources entry (deb822
# /etc/apt/sources.list.d/debian.sources, or the classic /etc/apt/sources.list).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# add_components FILE LINE_REGEX: append contrib, non-free and non-free-firmware to the lines
# of FILE matching LINE_REGEX that lack them (whole words: "non-free-firmware" is not
# "non-free"). Prints 1 when FILE changed.
add_components() {
    local file=$1 lines=$2 changed=0 comp
    for comp in contrib non-free non-free-firmware; do
        if grep -E "$lines" "$file" | grep -vqE "[[:space:]]$comp([[:space:]]|\$)"; then
            $SUDO sed -i -E "/$lines/{/[[:space:]]$comp([[:space:]]|\$)/!s/[[:space:]]*\$/ $comp/}" "$file"
            changed=1
        fi
    done
    echo "$changed"
}

enable_components() {
    local changed=0
    # deb822 format (Debian 12+): the "Components:" lines of debian.sources
    local deb822=${APT_DEB822:-/etc/apt/sources.list.d/debian.sources}
    if [ -f "$deb822" ] && [ "$(add_components "$deb822" '^Components:')" = 1 ]; then
        changed=1
    fi
    # one-line format: the Debian "deb" lines of sources.list
    local list=${APT_LIST:-/etc/apt/sources.list}
    if [ -f "$list" ] && [ "$(add_components "$list" '^deb(-src)?[[:space:]].*debian')" = 1 ]; then
        changed=1
    fi
    echo "$changed"
}

# Packages: required ones fail the script when missing; optional ones are installed if the
# archive has them (names differ between Debian releases).
REQUIRED=(
    sox libsox-fmt-all
    espeak-ng
    mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1
    flite
    festival festvox-kallpc16k festvox-kdlpc16k festvox-rablpc16k
    libttspico-utils
    wordnet-base
    fortunes
    wamerican  # /usr/share/dict/american-english: the word list of the bundled model's LM
)
OPTIONAL=(
    # accented English: the voice databases behind espeak-ng's mb-*-en voices
    mbrola-af1 mbrola-de1 mbrola-de2 mbrola-de3 mbrola-de4 mbrola-de5 mbrola-de6 mbrola-fr1
    mbrola-fr4 mbrola-gr2 mbrola-hu1 mbrola-nl2 mbrola-pl1 mbrola-ro1 mbrola-sw1 mbrola-sw2
    # more accented English: diphone sets this project pairs with English (opt-in voices)
    mbrola-ca1 mbrola-cr1 mbrola-de7 mbrola-es1 mbrola-es2 mbrola-fr2 mbrola-fr3 mbrola-fr5
    mbrola-fr6 mbrola-fr7 mbrola-id1
    # more festival voices (us1 and slt are reserved for evaluation). The 8 kHz festvox-*8k
    # packages conflict with the 16 kHz ones above.
    festvox-us1 festvox-us2 festvox-us3 festvox-en1 festvox-don festvox-us-slt-hts
    # RHVoice (non-free): statistical parametric English voices (its slt is reserved)
    rhvoice rhvoice-english
)

if [ "$(enable_components)" = "1" ] || [ ! -d /var/lib/apt/lists ] \
    || ! apt-cache show mbrola >/dev/null 2>&1; then
    $SUDO apt-get update -qq
fi

missing=()
for p in "${REQUIRED[@]}" "${OPTIONAL[@]}"; do
    if ! dpkg -s "$p" >/dev/null 2>&1; then missing+=("$p"); fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install_tts: everything already installed"
    exit 0
fi

available=()
for p in "${missing[@]}"; do
    if apt-cache show "$p" >/dev/null 2>&1; then
        available+=("$p")
    else
        for r in "${REQUIRED[@]}"; do
            if [ "$r" = "$p" ]; then echo "install_tts: required package $p not found" >&2; exit 1; fi
        done
        echo "install_tts: optional package $p not in the archive, skipped"
    fi
done
if [ "${#available[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${available[@]}"
fi
echo "install_tts: done"
