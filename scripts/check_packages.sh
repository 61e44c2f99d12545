#!/usr/bin/env bash
# Checks the Makefile's Debian package lists for the kind of fault that broke `make demo` on a new
# machine: a package we install recommends another that a command needs, and `apt-get install
# --no-install-recommends` leaves it out. Every Recommends of every installed listed package must
# be listed itself or named in UNNEEDED_RECOMMENDS (with the reason in the Makefile's comment).
# usage: scripts/check_packages.sh   (from anywhere; reads the lists with `make print-packages`)
set -euo pipefail
cd "$(dirname "$0")/.."
lists=$(make -s --no-print-directory print-packages)
read -r -a listed <<<"$(sed -n 's/^listed: //p' <<<"$lists")"
read -r -a unneeded <<<"$(sed -n 's/^unneeded: //p' <<<"$lists")"
known=" ${listed[*]} ${unneeded[*]} "

checked=0 missing=0
for package in "${listed[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [[ $status == *"install ok installed"* ]] || continue  # e.g. npm from elsewhere, bench packages before `make bench`
    checked=$((checked + 1))
    recommends=$(dpkg-query -W -f='${Recommends}' "$package")
    [[ -n $recommends ]] || continue
    # "a (>= 1), b | c" -> one alternative group a line, versions and architectures dropped.
    while IFS= read -r group; do
        satisfied=0
        for alternative in ${group//|/ }; do
            alternative=${alternative%%:*}
            [[ $known == *" $alternative "* ]] && satisfied=1
        done
        if [[ $satisfied == 0 ]]; then
            echo "FAIL: $package recommends '$group', which is neither installed by the Makefile nor in UNNEEDED_RECOMMENDS"
            missing=$((missing + 1))
        fi
    done < <(sed -e 's/([^)]*)//g' -e 's/, */\n/g' <<<"$recommends" | sed -e 's/ *| */|/g' -e 's/^ *//' -e 's/ *$//')
done
if [[ $checked == 0 ]]; then
    echo "FAIL: none of the listed packages is installed (run \`make deps\` first)"
    exit 1
fi
echo "$checked installed packages of the Makefile's lists checked; $missing recommend something unaccounted for"
[[ $missing == 0 ]]
