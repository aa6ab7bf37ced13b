# tests/data/tui-lib.sh — driving the TUI in tmux (sourced after tests/lib.sh, with
# TM set to the tmux command of the test's own server, e.g. TM=(tmux -L "spooltest-$$")).
#
#   screen                        the pane as text
#   keys KEY...                   tmux send-keys, then a moment for the TUI to read them
#   wait_screen REGEX [SECONDS]   0 once the screen matches (10 s)
#   wait_gone REGEX [SECONDS]     0 once the screen no longer matches
#   expect_screen WHAT REGEX [SECONDS]

screen() { "${TM[@]}" capture-pane -p; }
keys() { "${TM[@]}" send-keys "$@"; sleep 0.3; }
wait_screen() { # REGEX [SECONDS]: 0 once the screen matches
	local i
	for ((i = 0; i < ${2:-10} * 5; i++)); do
		[[ $(screen) =~ $1 ]] && return 0
		sleep 0.2
	done
	return 1
}
wait_gone() { # REGEX [SECONDS]: 0 once the screen no longer matches
	local i
	for ((i = 0; i < ${2:-10} * 5; i++)); do
		[[ $(screen) =~ $1 ]] || return 0
		sleep 0.2
	done
	return 1
}
expect_screen() { # WHAT REGEX [SECONDS]
	if wait_screen "$2" "${3:-10}"; then ok "$1"; else fail "$1" "screen does not match: $2
$(screen)"; fi
}
