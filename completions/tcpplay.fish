# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_tcpplay_global_optspecs
    string join \n config= no-input v/verbose h/help V/version
end

function __fish_tcpplay_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_tcpplay_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_tcpplay_using_subcommand
    set -l cmd (__fish_tcpplay_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c tcpplay -n "__fish_tcpplay_needs_command" -l config -d 'Read settings from this TOML file (see examples/tcpplay.toml)' -r -F
complete -c tcpplay -n "__fish_tcpplay_needs_command" -l no-input -d 'Never prompt; fail if a required value is missing'
complete -c tcpplay -n "__fish_tcpplay_needs_command" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
complete -c tcpplay -n "__fish_tcpplay_needs_command" -s h -l help -d 'Print help'
complete -c tcpplay -n "__fish_tcpplay_needs_command" -s V -l version -d 'Print version'
complete -c tcpplay -n "__fish_tcpplay_needs_command" -f -a "serve" -d 'Run a chat server'
complete -c tcpplay -n "__fish_tcpplay_needs_command" -f -a "join" -d 'Join a chat server'
complete -c tcpplay -n "__fish_tcpplay_needs_command" -f -a "gen-cert" -d 'Make a self-signed (or local-CA) certificate and key for TLS'
complete -c tcpplay -n "__fish_tcpplay_needs_command" -f -a "check" -d 'Diagnose settings, certificate files and a live server'
complete -c tcpplay -n "__fish_tcpplay_needs_command" -f -a "gen-room" -d 'Make a secure room\'s record from its password, for `serve --room-record` (a server holding only the record cannot read the room)'
complete -c tcpplay -n "__fish_tcpplay_needs_command" -f -a "gen-account" -d 'Make (or give a new password to) an account in the accounts database, offline, for `serve` (its operators, or a closed server)'
complete -c tcpplay -n "__fish_tcpplay_needs_command" -f -a "completions" -d 'Print a shell completion script (or write all of them with --dir)'
complete -c tcpplay -n "__fish_tcpplay_needs_command" -f -a "man" -d 'Show the manual (tcpplay(1), or a command\'s page), or write every page into DIR'
complete -c tcpplay -n "__fish_tcpplay_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l bind -d 'Address to bind: 0.0.0.0 (all IPv4, the default), :: (all IPv6) or one address' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -s p -l port -d 'TCP port (0 picks a free one) [default: 12345]' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l timeout -d 'Ping a client silent this many seconds; drop it if it stays silent as long again (tcpplay join answers by itself; 0 = never) [default: 0]' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l password -d 'Room password (visible to other users in the process list: prefer --password-file, TCPPLAY_PASSWORD or the prompt)' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l password-file -d 'Read the room password from the first line of this file' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l room-record -d 'The secure room\'s record (from `tcpplay gen-room`): no password needed' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l workers -d 'Threads serving clients (0 = one per CPU core) [default: 0]' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l metrics -d 'Serve /metrics (OpenMetrics), /healthz and /readyz over HTTP on this address, e.g. 127.0.0.1:9100 (off by default)' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l log-format -d 'Log format: text (for people) or json (one object per line; chat lines are then not echoed unless serve.quiet = false is set) [default: text]' -r -f -a "text\t''
json\t''"
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l cert -d 'Certificate chain (PEM)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l key -d 'Private key (PEM)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l client-ca -d 'Require client certificates issued by this CA (mutual TLS; see `gen-cert --client`)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l history -d 'Keep chat history in this SQLite file [default: history/BIND-PORT.sqlite3 in the user\'s data dir, one per server]' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l motd -d 'Message of the day, sent to each member after joining' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l motd-file -d 'Read the message of the day from this file' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l web -d 'Serve the browser page and its WebSocket on this address, e.g. 0.0.0.0:8080 (HTTPS/WSS under --tls)' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l irc -d 'Let IRC clients in on this address, e.g. 0.0.0.0:6667 (IRC over TLS under --tls: 6697 is the usual port). Off by default' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l registration -d 'Who may register an account: open, operator (only `tcpplay gen-account`), closed (accounts made before still log in) [default: closed]' -r -f -a "open\t''
operator\t''
closed\t''"
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l accounts -d 'The accounts database; in a cluster, the node\'s durable copy of the cluster\'s accounts goes beside it as cluster-NODE-FILE [default: accounts/BIND-PORT.sqlite3 in the data directory]' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l operator -d 'An account that operates every room (repeat for more; a guest cannot take the name)' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l cluster -d 'Cluster mode: share rooms with the other servers on this Redis, redis://HOST:PORT[/DB] or rediss:// (TLS). A password belongs in TCPPLAY_CLUSTER__URL or the config file, not here' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l node -d 'This server\'s name in the cluster [default: HOSTNAME-PORT]' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l config -d 'Read settings from this TOML file (see examples/tcpplay.toml)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l secure -d 'Password-protected secure room (requires TLS)'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l reset-room -d 'Give the secure room a new record from the password given (its old sealed messages become unreadable and are removed from the history)'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l tls -d 'Serve over TLS (needs --cert and --key; see `tcpplay gen-cert`)'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l check-config -d 'Check the settings, certificate, key, history and room record, then exit (0: fine, 2: an error) without listening: for ExecStartPre'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -s q -l quiet -d 'Do not echo chat lines on the console'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l no-history -d 'Keep no chat history (nothing is written to disk)'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -l no-input -d 'Never prompt; fail if a required value is missing'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand serve" -s h -l help -d 'Print help'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l host -d 'Server host name or IP address [default: 127.0.0.1]' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -s p -l port -d 'Server port [default: 12345]' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l cert -d 'Trust this certificate or CA (PEM) instead of the public roots; implies --tls' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l client-cert -d 'Present this client certificate (PEM) to a server that asks for one (mutual TLS)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l client-key -d 'The client certificate\'s private key (PEM)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -s n -l name -d 'Your name in the room (1-24 characters)' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l timeout -d 'Connect and handshake timeout in seconds (0 = none) [default: 10]' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l password -d 'Room password for a secure server (visible in the process list: prefer --password-file, TCPPLAY_PASSWORD or the prompt)' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l password-file -d 'Read the room password from the first line of this file' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l account-password-file -d 'Read your account\'s password from the first line of this file (or set TCPPLAY_ACCOUNT_PASSWORD; on a terminal it is asked when needed)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l new-password-file -d '--register or --change-password without a terminal: the new password, from the first line of this file' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l forget-host -d 'Forget what known_hosts remembers of HOST[:PORT] (its pinned certificate, that it was a secure room), then exit: after the server got a new certificate, or another server took its port' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l also -d 'Another server of the same cluster, HOST:PORT (repeat for more): with --reconnect, tried in turn after the main one' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l room -d 'A room to join (repeat for more); typed lines go to the first [default: the server\'s default room]' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l config -d 'Read settings from this TOML file (see examples/tcpplay.toml)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l register -d 'Register your name as an account once joined (asks for a new password twice on a terminal; TLS servers with registration open)'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l change-password -d 'Give your account a new password once logged in (asks for it twice on a terminal)'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l tls -d 'Require TLS (never fall back to plaintext)'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l no-tls -d 'Plaintext only (do not try TLS first)'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l tls-insecure -d 'Do not verify the server certificate (testing only: anyone can impersonate the server)'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l json -d 'Print one JSON object per received event (for scripts)'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l listen -d 'Stay connected when input ends (or is /dev/null), printing what arrives: for loggers and bots. Ctrl-C or SIGTERM leaves (exit 0)'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l reconnect -d 'When the connection is lost (not closed by the server), reconnect with back-off'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l show-wire -d 'Print every protocol line sent (->) and received (<-) on stderr, secrets redacted'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l timestamps -d 'Show the time before each line'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l no-bell -d 'Do not ring the terminal bell when a line names you'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -l no-input -d 'Never prompt; fail if a required value is missing'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand join" -s h -l help -d 'Print help'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-cert" -l out-dir -d 'Directory to write into [default: current directory]' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-cert" -l cert-file -d 'Certificate file name or path [default: cert.pem]' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-cert" -l key-file -d 'Private key file name or path [default: key.pem]' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-cert" -l days -d 'Days of validity (browsers and Apple refuse more than 825)' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-cert" -l san -d 'Extra subject alternative name: a DNS name or an IP address (repeatable)' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-cert" -l key-type -d 'Key algorithm (RSA keys cannot be generated with this build\'s crypto backend)' -r -f -a "ecdsa-p256\t''
ecdsa-p384\t''
ed25519\t''"
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-cert" -l ca-cert -d 'An existing CA certificate to issue from [default: OUT_DIR/ca.pem]' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-cert" -l ca-key -d 'The CA\'s private key [default: OUT_DIR/ca-key.pem]' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-cert" -l client -d 'Issue a client certificate for NAME (mutual TLS; needs the local CA)' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-cert" -l config -d 'Read settings from this TOML file (see examples/tcpplay.toml)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-cert" -l lan -d 'Also add this machine\'s host name and LAN addresses, so other machines can verify it'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-cert" -l ca -d 'Issue from a local CA (ca.pem, ca-key.pem): created once, reused after'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-cert" -l force -d 'Overwrite existing files'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-cert" -l json -d 'Print a JSON summary instead of text'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-cert" -l no-input -d 'Never prompt; fail if a required value is missing'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-cert" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-cert" -s h -l help -d 'Print help'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand check" -l host -d 'Server host name or IP address [default: 127.0.0.1]' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand check" -s p -l port -d 'Server port [default: 12345]' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand check" -l cert -d 'Trust this certificate or CA (PEM) instead of the public roots; implies --tls' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand check" -l client-cert -d 'Present this client certificate (PEM) to a server that asks for one (mutual TLS)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand check" -l client-key -d 'The client certificate\'s private key (PEM)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand check" -s n -l name -d 'Also join as NAME, run ping round trips, and leave' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand check" -l password-file -d 'Room password file (secure rooms; or TCPPLAY_PASSWORD)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand check" -l pings -d 'Ping round trips after joining' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand check" -l timeout -d 'Seconds each network step may take' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand check" -l cluster -d 'Also look at a cluster\'s Redis, redis://HOST:PORT[/DB]: its nodes alive, their members, the latency (or cluster.url in the settings)' -r
complete -c tcpplay -n "__fish_tcpplay_using_subcommand check" -l config -d 'Read settings from this TOML file (see examples/tcpplay.toml)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand check" -l local -d 'Only check local settings and files; do not connect'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand check" -l remote -d 'Probe the server named by the join settings'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand check" -l strict -d 'Exit 1 when there are warnings'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand check" -l json -d 'Print one JSON document on stdout (logs stay on stderr)'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand check" -l no-input -d 'Never prompt; fail if a required value is missing'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand check" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand check" -s h -l help -d 'Print help'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-room" -l out -d 'Where to write the record (owner-only) [default: room.record]' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-room" -l password-file -d 'Read the room password from the first line of this file (else TCPPLAY_PASSWORD, else asked twice on the terminal)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-room" -l config -d 'Read settings from this TOML file (see examples/tcpplay.toml)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-room" -l force -d 'Overwrite an existing file'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-room" -l no-input -d 'Never prompt; fail if a required value is missing'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-room" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-room" -s h -l help -d 'Print help'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-account" -l accounts -d 'The accounts database [default: the one `serve` uses with these settings]' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-account" -l password-file -d 'Read the password from the first line of this file (else TCPPLAY_ACCOUNT_PASSWORD, else asked twice on the terminal)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-account" -l config -d 'Read settings from this TOML file (see examples/tcpplay.toml)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-account" -l no-input -d 'Never prompt; fail if a required value is missing'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-account" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand gen-account" -s h -l help -d 'Print help'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand completions" -l dir -d 'Write the scripts for every shell into DIR (how completions/ is made)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand completions" -l config -d 'Read settings from this TOML file (see examples/tcpplay.toml)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand completions" -l no-input -d 'Never prompt; fail if a required value is missing'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand completions" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand completions" -s h -l help -d 'Print help'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand man" -l dir -d 'Write every page (tcpplay.1 and tcpplay-COMMAND.1) into DIR instead of showing one (how man/ is made)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand man" -l config -d 'Read settings from this TOML file (see examples/tcpplay.toml)' -r -F
complete -c tcpplay -n "__fish_tcpplay_using_subcommand man" -l no-input -d 'Never prompt; fail if a required value is missing'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand man" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand man" -s h -l help -d 'Print help'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand help; and not __fish_seen_subcommand_from serve join gen-cert check gen-room gen-account completions man help" -f -a "serve" -d 'Run a chat server'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand help; and not __fish_seen_subcommand_from serve join gen-cert check gen-room gen-account completions man help" -f -a "join" -d 'Join a chat server'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand help; and not __fish_seen_subcommand_from serve join gen-cert check gen-room gen-account completions man help" -f -a "gen-cert" -d 'Make a self-signed (or local-CA) certificate and key for TLS'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand help; and not __fish_seen_subcommand_from serve join gen-cert check gen-room gen-account completions man help" -f -a "check" -d 'Diagnose settings, certificate files and a live server'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand help; and not __fish_seen_subcommand_from serve join gen-cert check gen-room gen-account completions man help" -f -a "gen-room" -d 'Make a secure room\'s record from its password, for `serve --room-record` (a server holding only the record cannot read the room)'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand help; and not __fish_seen_subcommand_from serve join gen-cert check gen-room gen-account completions man help" -f -a "gen-account" -d 'Make (or give a new password to) an account in the accounts database, offline, for `serve` (its operators, or a closed server)'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand help; and not __fish_seen_subcommand_from serve join gen-cert check gen-room gen-account completions man help" -f -a "completions" -d 'Print a shell completion script (or write all of them with --dir)'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand help; and not __fish_seen_subcommand_from serve join gen-cert check gen-room gen-account completions man help" -f -a "man" -d 'Show the manual (tcpplay(1), or a command\'s page), or write every page into DIR'
complete -c tcpplay -n "__fish_tcpplay_using_subcommand help; and not __fish_seen_subcommand_from serve join gen-cert check gen-room gen-account completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
