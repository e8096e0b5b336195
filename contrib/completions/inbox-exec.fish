# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_inbox_exec_global_optspecs
    string join \n config= db= key= state-dir= ttl= json v/verbose q/quiet h/help V/version
end

function __fish_inbox_exec_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_inbox_exec_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_inbox_exec_using_subcommand
    set -l cmd (__fish_inbox_exec_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -l config -d 'Configuration file (TOML). Default: $XDG_CONFIG_HOME/inbox-exec/config.toml, then /etc/inbox-exec/config.toml, when present' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -l db -d 'The draft registry: a SQLite file, or a postgres:// URL (no password in it). Default: ~/.delimit/drafts.db' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -l key -d 'The HMAC key file for key_version 1. Default: ~/.delimit/secrets/inbox-executor-hmac.key' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -l state-dir -d 'Directory for the run lock and the state files (thermal record, last-run summary, idle mark). Default: ~/.delimit/inbox-exec/' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -l ttl -d 'How long a signed draft stays valid, e.g. `24h`, `90m`. Default: 24h' -r
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -l json -d 'Print one JSON document instead of human-readable text'
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -s q -l quiet -d 'Only errors on stderr'
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -s h -l help -d 'Print help'
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -s V -l version -d 'Print version'
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -f -a "run" -d 'Execute up to --batch approved drafts, oldest first, then exit'
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -f -a "init" -d 'Create the registry (and migrate an existing one)'
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -f -a "keygen" -d 'Create a new random HMAC key, mode 0600. Never overwrites'
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -f -a "draft" -d 'Sign and insert drafts'
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -f -a "approve" -d 'Approve a pending draft after verifying it afresh'
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -f -a "cancel" -d 'Cancel a pending draft'
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -f -a "expire" -d 'Mark pending drafts older than the TTL as expired'
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -f -a "show" -d 'Show a draft and its attempts'
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -f -a "verify" -d 'Verify drafts without side effects (exit 3 when any fails)'
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -f -a "reconcile" -d 'List drafts stuck in `executing`, or settle one (`reconcile resolve`)'
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -f -a "status" -d 'Counts by status, stuck drafts, the thermal cutout and the last run'
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -f -a "copy" -d 'Copy a registry\'s drafts and attempts to another registry (SQLite file or postgres:// URL), byte for byte, so every signature still verifies'
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c inbox-exec -n "__fish_inbox_exec_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand run" -l batch -d 'At most this many approved drafts per cycle, 1 to 1000. Default: 10' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand run" -l config -d 'Configuration file (TOML). Default: $XDG_CONFIG_HOME/inbox-exec/config.toml, then /etc/inbox-exec/config.toml, when present' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand run" -l db -d 'The draft registry: a SQLite file, or a postgres:// URL (no password in it). Default: ~/.delimit/drafts.db' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand run" -l key -d 'The HMAC key file for key_version 1. Default: ~/.delimit/secrets/inbox-executor-hmac.key' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand run" -l state-dir -d 'Directory for the run lock and the state files (thermal record, last-run summary, idle mark). Default: ~/.delimit/inbox-exec/' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand run" -l ttl -d 'How long a signed draft stays valid, e.g. `24h`, `90m`. Default: 24h' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand run" -l dry-run -d 'Report what would happen; change nothing'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand run" -l json -d 'Print one JSON document instead of human-readable text'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand run" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand run" -s q -l quiet -d 'Only errors on stderr'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand init" -l config -d 'Configuration file (TOML). Default: $XDG_CONFIG_HOME/inbox-exec/config.toml, then /etc/inbox-exec/config.toml, when present' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand init" -l db -d 'The draft registry: a SQLite file, or a postgres:// URL (no password in it). Default: ~/.delimit/drafts.db' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand init" -l key -d 'The HMAC key file for key_version 1. Default: ~/.delimit/secrets/inbox-executor-hmac.key' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand init" -l state-dir -d 'Directory for the run lock and the state files (thermal record, last-run summary, idle mark). Default: ~/.delimit/inbox-exec/' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand init" -l ttl -d 'How long a signed draft stays valid, e.g. `24h`, `90m`. Default: 24h' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand init" -l json -d 'Print one JSON document instead of human-readable text'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand init" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand init" -s q -l quiet -d 'Only errors on stderr'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand init" -s h -l help -d 'Print help'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand keygen" -l key-version -d 'Create the key configured for this version. Default: the newest configured version' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand keygen" -l config -d 'Configuration file (TOML). Default: $XDG_CONFIG_HOME/inbox-exec/config.toml, then /etc/inbox-exec/config.toml, when present' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand keygen" -l db -d 'The draft registry: a SQLite file, or a postgres:// URL (no password in it). Default: ~/.delimit/drafts.db' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand keygen" -l key -d 'The HMAC key file for key_version 1. Default: ~/.delimit/secrets/inbox-executor-hmac.key' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand keygen" -l state-dir -d 'Directory for the run lock and the state files (thermal record, last-run summary, idle mark). Default: ~/.delimit/inbox-exec/' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand keygen" -l ttl -d 'How long a signed draft stays valid, e.g. `24h`, `90m`. Default: 24h' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand keygen" -l json -d 'Print one JSON document instead of human-readable text'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand keygen" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand keygen" -s q -l quiet -d 'Only errors on stderr'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand keygen" -s h -l help -d 'Print help'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and not __fish_seen_subcommand_from new help" -l config -d 'Configuration file (TOML). Default: $XDG_CONFIG_HOME/inbox-exec/config.toml, then /etc/inbox-exec/config.toml, when present' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and not __fish_seen_subcommand_from new help" -l db -d 'The draft registry: a SQLite file, or a postgres:// URL (no password in it). Default: ~/.delimit/drafts.db' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and not __fish_seen_subcommand_from new help" -l key -d 'The HMAC key file for key_version 1. Default: ~/.delimit/secrets/inbox-executor-hmac.key' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and not __fish_seen_subcommand_from new help" -l state-dir -d 'Directory for the run lock and the state files (thermal record, last-run summary, idle mark). Default: ~/.delimit/inbox-exec/' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and not __fish_seen_subcommand_from new help" -l ttl -d 'How long a signed draft stays valid, e.g. `24h`, `90m`. Default: 24h' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and not __fish_seen_subcommand_from new help" -l json -d 'Print one JSON document instead of human-readable text'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and not __fish_seen_subcommand_from new help" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and not __fish_seen_subcommand_from new help" -s q -l quiet -d 'Only errors on stderr'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and not __fish_seen_subcommand_from new help" -s h -l help -d 'Print help'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and not __fish_seen_subcommand_from new help" -f -a "new" -d 'Sign a new draft with the newest key and insert it as pending; prints its id'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and not __fish_seen_subcommand_from new help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and __fish_seen_subcommand_from new" -l kind -d 'The action kind, e.g. github_comment' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and __fish_seen_subcommand_from new" -l target -d 'Where the action lands, as JSON, e.g. \'{"repo":"owner/name","issue":1}\'' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and __fish_seen_subcommand_from new" -l payload -d 'What the action does, as JSON, e.g. \'{"body":"Thanks!"}\'' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and __fish_seen_subcommand_from new" -l issued-at -d 'Signing time in Unix seconds. Default: now' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and __fish_seen_subcommand_from new" -l led-ref -d 'A ledger reference to store with the draft' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and __fish_seen_subcommand_from new" -l config -d 'Configuration file (TOML). Default: $XDG_CONFIG_HOME/inbox-exec/config.toml, then /etc/inbox-exec/config.toml, when present' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and __fish_seen_subcommand_from new" -l db -d 'The draft registry: a SQLite file, or a postgres:// URL (no password in it). Default: ~/.delimit/drafts.db' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and __fish_seen_subcommand_from new" -l key -d 'The HMAC key file for key_version 1. Default: ~/.delimit/secrets/inbox-executor-hmac.key' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and __fish_seen_subcommand_from new" -l state-dir -d 'Directory for the run lock and the state files (thermal record, last-run summary, idle mark). Default: ~/.delimit/inbox-exec/' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and __fish_seen_subcommand_from new" -l ttl -d 'How long a signed draft stays valid, e.g. `24h`, `90m`. Default: 24h' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and __fish_seen_subcommand_from new" -l allow-unrunnable -d 'Insert it even when `run` would refuse it: a non-delegable kind, or a target or payload its handler rejects (e.g. for another executor\'s configuration)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and __fish_seen_subcommand_from new" -l json -d 'Print one JSON document instead of human-readable text'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and __fish_seen_subcommand_from new" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and __fish_seen_subcommand_from new" -s q -l quiet -d 'Only errors on stderr'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and __fish_seen_subcommand_from new" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and __fish_seen_subcommand_from help" -f -a "new" -d 'Sign a new draft with the newest key and insert it as pending; prints its id'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand draft; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand approve" -l subject -d 'Who or what approved it (a person, a review), recorded as the draft\'s approval_subject, as the reference does' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand approve" -l config -d 'Configuration file (TOML). Default: $XDG_CONFIG_HOME/inbox-exec/config.toml, then /etc/inbox-exec/config.toml, when present' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand approve" -l db -d 'The draft registry: a SQLite file, or a postgres:// URL (no password in it). Default: ~/.delimit/drafts.db' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand approve" -l key -d 'The HMAC key file for key_version 1. Default: ~/.delimit/secrets/inbox-executor-hmac.key' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand approve" -l state-dir -d 'Directory for the run lock and the state files (thermal record, last-run summary, idle mark). Default: ~/.delimit/inbox-exec/' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand approve" -l ttl -d 'How long a signed draft stays valid, e.g. `24h`, `90m`. Default: 24h' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand approve" -l allow-unrunnable -d 'Approve it even when `run` would refuse it (see `draft new --allow-unrunnable`)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand approve" -l json -d 'Print one JSON document instead of human-readable text'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand approve" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand approve" -s q -l quiet -d 'Only errors on stderr'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand approve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand cancel" -l config -d 'Configuration file (TOML). Default: $XDG_CONFIG_HOME/inbox-exec/config.toml, then /etc/inbox-exec/config.toml, when present' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand cancel" -l db -d 'The draft registry: a SQLite file, or a postgres:// URL (no password in it). Default: ~/.delimit/drafts.db' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand cancel" -l key -d 'The HMAC key file for key_version 1. Default: ~/.delimit/secrets/inbox-executor-hmac.key' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand cancel" -l state-dir -d 'Directory for the run lock and the state files (thermal record, last-run summary, idle mark). Default: ~/.delimit/inbox-exec/' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand cancel" -l ttl -d 'How long a signed draft stays valid, e.g. `24h`, `90m`. Default: 24h' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand cancel" -l json -d 'Print one JSON document instead of human-readable text'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand cancel" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand cancel" -s q -l quiet -d 'Only errors on stderr'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand cancel" -s h -l help -d 'Print help'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand expire" -l config -d 'Configuration file (TOML). Default: $XDG_CONFIG_HOME/inbox-exec/config.toml, then /etc/inbox-exec/config.toml, when present' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand expire" -l db -d 'The draft registry: a SQLite file, or a postgres:// URL (no password in it). Default: ~/.delimit/drafts.db' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand expire" -l key -d 'The HMAC key file for key_version 1. Default: ~/.delimit/secrets/inbox-executor-hmac.key' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand expire" -l state-dir -d 'Directory for the run lock and the state files (thermal record, last-run summary, idle mark). Default: ~/.delimit/inbox-exec/' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand expire" -l ttl -d 'How long a signed draft stays valid, e.g. `24h`, `90m`. Default: 24h' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand expire" -l json -d 'Print one JSON document instead of human-readable text'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand expire" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand expire" -s q -l quiet -d 'Only errors on stderr'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand expire" -s h -l help -d 'Print help'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand show" -l config -d 'Configuration file (TOML). Default: $XDG_CONFIG_HOME/inbox-exec/config.toml, then /etc/inbox-exec/config.toml, when present' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand show" -l db -d 'The draft registry: a SQLite file, or a postgres:// URL (no password in it). Default: ~/.delimit/drafts.db' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand show" -l key -d 'The HMAC key file for key_version 1. Default: ~/.delimit/secrets/inbox-executor-hmac.key' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand show" -l state-dir -d 'Directory for the run lock and the state files (thermal record, last-run summary, idle mark). Default: ~/.delimit/inbox-exec/' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand show" -l ttl -d 'How long a signed draft stays valid, e.g. `24h`, `90m`. Default: 24h' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand show" -l json -d 'Print one JSON document instead of human-readable text'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand show" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand show" -s q -l quiet -d 'Only errors on stderr'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand show" -s h -l help -d 'Print help'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand verify" -l now -d 'Verify as of this Unix time instead of now' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand verify" -l config -d 'Configuration file (TOML). Default: $XDG_CONFIG_HOME/inbox-exec/config.toml, then /etc/inbox-exec/config.toml, when present' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand verify" -l db -d 'The draft registry: a SQLite file, or a postgres:// URL (no password in it). Default: ~/.delimit/drafts.db' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand verify" -l key -d 'The HMAC key file for key_version 1. Default: ~/.delimit/secrets/inbox-executor-hmac.key' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand verify" -l state-dir -d 'Directory for the run lock and the state files (thermal record, last-run summary, idle mark). Default: ~/.delimit/inbox-exec/' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand verify" -l ttl -d 'How long a signed draft stays valid, e.g. `24h`, `90m`. Default: 24h' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand verify" -l all -d 'Every draft, whatever its status'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand verify" -l json -d 'Print one JSON document instead of human-readable text'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand verify" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand verify" -s q -l quiet -d 'Only errors on stderr'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and not __fish_seen_subcommand_from resolve help" -l older-than -d 'Only drafts claimed longer ago than this, e.g. `10m`' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and not __fish_seen_subcommand_from resolve help" -l config -d 'Configuration file (TOML). Default: $XDG_CONFIG_HOME/inbox-exec/config.toml, then /etc/inbox-exec/config.toml, when present' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and not __fish_seen_subcommand_from resolve help" -l db -d 'The draft registry: a SQLite file, or a postgres:// URL (no password in it). Default: ~/.delimit/drafts.db' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and not __fish_seen_subcommand_from resolve help" -l key -d 'The HMAC key file for key_version 1. Default: ~/.delimit/secrets/inbox-executor-hmac.key' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and not __fish_seen_subcommand_from resolve help" -l state-dir -d 'Directory for the run lock and the state files (thermal record, last-run summary, idle mark). Default: ~/.delimit/inbox-exec/' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and not __fish_seen_subcommand_from resolve help" -l ttl -d 'How long a signed draft stays valid, e.g. `24h`, `90m`. Default: 24h' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and not __fish_seen_subcommand_from resolve help" -l json -d 'Print one JSON document instead of human-readable text'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and not __fish_seen_subcommand_from resolve help" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and not __fish_seen_subcommand_from resolve help" -s q -l quiet -d 'Only errors on stderr'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and not __fish_seen_subcommand_from resolve help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and not __fish_seen_subcommand_from resolve help" -f -a "resolve" -d 'Record a human decision about a draft stuck in `executing`. Never runs a handler'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and not __fish_seen_subcommand_from resolve help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and __fish_seen_subcommand_from resolve" -l as -d 'What happened: the action was done (`completed`), was not done (`failed`), or must never be done and needs attention elsewhere (`terminal`)' -r -f -a "completed\t'The side effect happened: executing → completed'
failed\t'It did not: executing → completed_with_error'
terminal\t'Never to be done: executing → terminal_unrecoverable'"
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and __fish_seen_subcommand_from resolve" -l url -d 'The URL the action produced (with --as completed)' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and __fish_seen_subcommand_from resolve" -l note -d 'Why: what you checked and found. Required with --as failed and --as terminal' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and __fish_seen_subcommand_from resolve" -l config -d 'Configuration file (TOML). Default: $XDG_CONFIG_HOME/inbox-exec/config.toml, then /etc/inbox-exec/config.toml, when present' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and __fish_seen_subcommand_from resolve" -l db -d 'The draft registry: a SQLite file, or a postgres:// URL (no password in it). Default: ~/.delimit/drafts.db' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and __fish_seen_subcommand_from resolve" -l key -d 'The HMAC key file for key_version 1. Default: ~/.delimit/secrets/inbox-executor-hmac.key' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and __fish_seen_subcommand_from resolve" -l state-dir -d 'Directory for the run lock and the state files (thermal record, last-run summary, idle mark). Default: ~/.delimit/inbox-exec/' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and __fish_seen_subcommand_from resolve" -l ttl -d 'How long a signed draft stays valid, e.g. `24h`, `90m`. Default: 24h' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and __fish_seen_subcommand_from resolve" -l force -d 'Settle it even though it was claimed less than `stuck_after` ago or its claimer may still be acting (a live process, another host, or the reference executor, which leaves no claim record). Only after checking that no executor is still dispatching it'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and __fish_seen_subcommand_from resolve" -l json -d 'Print one JSON document instead of human-readable text'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and __fish_seen_subcommand_from resolve" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and __fish_seen_subcommand_from resolve" -s q -l quiet -d 'Only errors on stderr'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and __fish_seen_subcommand_from resolve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and __fish_seen_subcommand_from help" -f -a "resolve" -d 'Record a human decision about a draft stuck in `executing`. Never runs a handler'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand reconcile; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand status" -l config -d 'Configuration file (TOML). Default: $XDG_CONFIG_HOME/inbox-exec/config.toml, then /etc/inbox-exec/config.toml, when present' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand status" -l db -d 'The draft registry: a SQLite file, or a postgres:// URL (no password in it). Default: ~/.delimit/drafts.db' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand status" -l key -d 'The HMAC key file for key_version 1. Default: ~/.delimit/secrets/inbox-executor-hmac.key' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand status" -l state-dir -d 'Directory for the run lock and the state files (thermal record, last-run summary, idle mark). Default: ~/.delimit/inbox-exec/' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand status" -l ttl -d 'How long a signed draft stays valid, e.g. `24h`, `90m`. Default: 24h' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand status" -l check -d 'Exit non-zero when something needs a human (see the command\'s help)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand status" -l plugin -d 'Print one monitoring-plugins status line (`INBOX-EXEC OK|WARNING|CRITICAL|UNKNOWN - text | perfdata`) and exit 0, 1, 2 or 3, for Nagios, Icinga, Naemon or Sensu'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand status" -l json -d 'Print one JSON document instead of human-readable text'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand status" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand status" -s q -l quiet -d 'Only errors on stderr'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand copy" -l from -d 'The registry to read: a SQLite file or a postgres:// URL' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand copy" -l to -d 'The registry to write (created if missing): a SQLite file or a postgres:// URL' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand copy" -l config -d 'Configuration file (TOML). Default: $XDG_CONFIG_HOME/inbox-exec/config.toml, then /etc/inbox-exec/config.toml, when present' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand copy" -l db -d 'The draft registry: a SQLite file, or a postgres:// URL (no password in it). Default: ~/.delimit/drafts.db' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand copy" -l key -d 'The HMAC key file for key_version 1. Default: ~/.delimit/secrets/inbox-executor-hmac.key' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand copy" -l state-dir -d 'Directory for the run lock and the state files (thermal record, last-run summary, idle mark). Default: ~/.delimit/inbox-exec/' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand copy" -l ttl -d 'How long a signed draft stays valid, e.g. `24h`, `90m`. Default: 24h' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand copy" -l force -d 'Copy into a target that already holds drafts (drafts it has are left alone)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand copy" -l json -d 'Print one JSON document instead of human-readable text'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand copy" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand copy" -s q -l quiet -d 'Only errors on stderr'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand copy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand completions" -l config -d 'Configuration file (TOML). Default: $XDG_CONFIG_HOME/inbox-exec/config.toml, then /etc/inbox-exec/config.toml, when present' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand completions" -l db -d 'The draft registry: a SQLite file, or a postgres:// URL (no password in it). Default: ~/.delimit/drafts.db' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand completions" -l key -d 'The HMAC key file for key_version 1. Default: ~/.delimit/secrets/inbox-executor-hmac.key' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand completions" -l state-dir -d 'Directory for the run lock and the state files (thermal record, last-run summary, idle mark). Default: ~/.delimit/inbox-exec/' -r -F
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand completions" -l ttl -d 'How long a signed draft stays valid, e.g. `24h`, `90m`. Default: 24h' -r
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand completions" -l json -d 'Print one JSON document instead of human-readable text'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand completions" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand completions" -s q -l quiet -d 'Only errors on stderr'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand help; and not __fish_seen_subcommand_from run init keygen draft approve cancel expire show verify reconcile status copy completions help" -f -a "run" -d 'Execute up to --batch approved drafts, oldest first, then exit'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand help; and not __fish_seen_subcommand_from run init keygen draft approve cancel expire show verify reconcile status copy completions help" -f -a "init" -d 'Create the registry (and migrate an existing one)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand help; and not __fish_seen_subcommand_from run init keygen draft approve cancel expire show verify reconcile status copy completions help" -f -a "keygen" -d 'Create a new random HMAC key, mode 0600. Never overwrites'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand help; and not __fish_seen_subcommand_from run init keygen draft approve cancel expire show verify reconcile status copy completions help" -f -a "draft" -d 'Sign and insert drafts'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand help; and not __fish_seen_subcommand_from run init keygen draft approve cancel expire show verify reconcile status copy completions help" -f -a "approve" -d 'Approve a pending draft after verifying it afresh'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand help; and not __fish_seen_subcommand_from run init keygen draft approve cancel expire show verify reconcile status copy completions help" -f -a "cancel" -d 'Cancel a pending draft'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand help; and not __fish_seen_subcommand_from run init keygen draft approve cancel expire show verify reconcile status copy completions help" -f -a "expire" -d 'Mark pending drafts older than the TTL as expired'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand help; and not __fish_seen_subcommand_from run init keygen draft approve cancel expire show verify reconcile status copy completions help" -f -a "show" -d 'Show a draft and its attempts'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand help; and not __fish_seen_subcommand_from run init keygen draft approve cancel expire show verify reconcile status copy completions help" -f -a "verify" -d 'Verify drafts without side effects (exit 3 when any fails)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand help; and not __fish_seen_subcommand_from run init keygen draft approve cancel expire show verify reconcile status copy completions help" -f -a "reconcile" -d 'List drafts stuck in `executing`, or settle one (`reconcile resolve`)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand help; and not __fish_seen_subcommand_from run init keygen draft approve cancel expire show verify reconcile status copy completions help" -f -a "status" -d 'Counts by status, stuck drafts, the thermal cutout and the last run'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand help; and not __fish_seen_subcommand_from run init keygen draft approve cancel expire show verify reconcile status copy completions help" -f -a "copy" -d 'Copy a registry\'s drafts and attempts to another registry (SQLite file or postgres:// URL), byte for byte, so every signature still verifies'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand help; and not __fish_seen_subcommand_from run init keygen draft approve cancel expire show verify reconcile status copy completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand help; and not __fish_seen_subcommand_from run init keygen draft approve cancel expire show verify reconcile status copy completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand help; and __fish_seen_subcommand_from draft" -f -a "new" -d 'Sign a new draft with the newest key and insert it as pending; prints its id'
complete -c inbox-exec -n "__fish_inbox_exec_using_subcommand help; and __fish_seen_subcommand_from reconcile" -f -a "resolve" -d 'Record a human decision about a draft stuck in `executing`. Never runs a handler'
