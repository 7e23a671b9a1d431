
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'tcpplay' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'tcpplay'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'tcpplay' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read settings from this TOML file (see examples/tcpplay.toml)')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt; fail if a required value is missing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run a chat server')
            [CompletionResult]::new('join', 'join', [CompletionResultType]::ParameterValue, 'Join a chat server')
            [CompletionResult]::new('gen-cert', 'gen-cert', [CompletionResultType]::ParameterValue, 'Make a self-signed (or local-CA) certificate and key for TLS')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Diagnose settings, certificate files and a live server')
            [CompletionResult]::new('gen-room', 'gen-room', [CompletionResultType]::ParameterValue, 'Make a secure room''s record from its password, for `serve --room-record` (a server holding only the record cannot read the room)')
            [CompletionResult]::new('gen-account', 'gen-account', [CompletionResultType]::ParameterValue, 'Make (or give a new password to) an account in the accounts database, offline, for `serve` (its operators, or a closed server)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script (or write all of them with --dir)')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Show the manual (tcpplay(1), or a command''s page), or write every page into DIR')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'tcpplay;serve' {
            [CompletionResult]::new('--bind', '--bind', [CompletionResultType]::ParameterName, 'Address to bind: 0.0.0.0 (all IPv4, the default), :: (all IPv6) or one address')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'TCP port (0 picks a free one) [default: 12345]')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'TCP port (0 picks a free one) [default: 12345]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Ping a client silent this many seconds; drop it if it stays silent as long again (tcpplay join answers by itself; 0 = never) [default: 0]')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Room password (visible to other users in the process list: prefer --password-file, TCPPLAY_PASSWORD or the prompt)')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the room password from the first line of this file')
            [CompletionResult]::new('--room-record', '--room-record', [CompletionResultType]::ParameterName, 'The secure room''s record (from `tcpplay gen-room`): no password needed')
            [CompletionResult]::new('--workers', '--workers', [CompletionResultType]::ParameterName, 'Threads serving clients (0 = one per CPU core) [default: 0]')
            [CompletionResult]::new('--metrics', '--metrics', [CompletionResultType]::ParameterName, 'Serve /metrics (OpenMetrics), /healthz and /readyz over HTTP on this address, e.g. 127.0.0.1:9100 (off by default)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format: text (for people) or json (one object per line; chat lines are then not echoed unless serve.quiet = false is set) [default: text]')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'Certificate chain (PEM)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Private key (PEM)')
            [CompletionResult]::new('--client-ca', '--client-ca', [CompletionResultType]::ParameterName, 'Require client certificates issued by this CA (mutual TLS; see `gen-cert --client`)')
            [CompletionResult]::new('--history', '--history', [CompletionResultType]::ParameterName, 'Keep chat history in this SQLite file [default: history/BIND-PORT.sqlite3 in the user''s data dir, one per server]')
            [CompletionResult]::new('--motd', '--motd', [CompletionResultType]::ParameterName, 'Message of the day, sent to each member after joining')
            [CompletionResult]::new('--motd-file', '--motd-file', [CompletionResultType]::ParameterName, 'Read the message of the day from this file')
            [CompletionResult]::new('--web', '--web', [CompletionResultType]::ParameterName, 'Serve the browser page and its WebSocket on this address, e.g. 0.0.0.0:8080 (HTTPS/WSS under --tls)')
            [CompletionResult]::new('--irc', '--irc', [CompletionResultType]::ParameterName, 'Let IRC clients in on this address, e.g. 0.0.0.0:6667 (IRC over TLS under --tls: 6697 is the usual port). Off by default')
            [CompletionResult]::new('--registration', '--registration', [CompletionResultType]::ParameterName, 'Who may register an account: open, operator (only `tcpplay gen-account`), closed (accounts made before still log in) [default: closed]')
            [CompletionResult]::new('--accounts', '--accounts', [CompletionResultType]::ParameterName, 'The accounts database; in a cluster, the node''s durable copy of the cluster''s accounts goes beside it as cluster-NODE-FILE [default: accounts/BIND-PORT.sqlite3 in the data directory]')
            [CompletionResult]::new('--operator', '--operator', [CompletionResultType]::ParameterName, 'An account that operates every room (repeat for more; a guest cannot take the name)')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'Cluster mode: share rooms with the other servers on this Redis, redis://HOST:PORT[/DB] or rediss:// (TLS). A password belongs in TCPPLAY_CLUSTER__URL or the config file, not here')
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'This server''s name in the cluster [default: HOSTNAME-PORT]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read settings from this TOML file (see examples/tcpplay.toml)')
            [CompletionResult]::new('--secure', '--secure', [CompletionResultType]::ParameterName, 'Password-protected secure room (requires TLS)')
            [CompletionResult]::new('--reset-room', '--reset-room', [CompletionResultType]::ParameterName, 'Give the secure room a new record from the password given (its old sealed messages become unreadable and are removed from the history)')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Serve over TLS (needs --cert and --key; see `tcpplay gen-cert`)')
            [CompletionResult]::new('--check-config', '--check-config', [CompletionResultType]::ParameterName, 'Check the settings, certificate, key, history and room record, then exit (0: fine, 2: an error) without listening: for ExecStartPre')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Do not echo chat lines on the console')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Do not echo chat lines on the console')
            [CompletionResult]::new('--no-history', '--no-history', [CompletionResultType]::ParameterName, 'Keep no chat history (nothing is written to disk)')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt; fail if a required value is missing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'tcpplay;join' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'Server host name or IP address [default: 127.0.0.1]')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Server port [default: 12345]')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Server port [default: 12345]')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'Trust this certificate or CA (PEM) instead of the public roots; implies --tls')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this client certificate (PEM) to a server that asks for one (mutual TLS)')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'The client certificate''s private key (PEM)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Your name in the room (1-24 characters)')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Your name in the room (1-24 characters)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Connect and handshake timeout in seconds (0 = none) [default: 10]')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Room password for a secure server (visible in the process list: prefer --password-file, TCPPLAY_PASSWORD or the prompt)')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the room password from the first line of this file')
            [CompletionResult]::new('--account-password-file', '--account-password-file', [CompletionResultType]::ParameterName, 'Read your account''s password from the first line of this file (or set TCPPLAY_ACCOUNT_PASSWORD; on a terminal it is asked when needed)')
            [CompletionResult]::new('--new-password-file', '--new-password-file', [CompletionResultType]::ParameterName, '--register or --change-password without a terminal: the new password, from the first line of this file')
            [CompletionResult]::new('--forget-host', '--forget-host', [CompletionResultType]::ParameterName, 'Forget what known_hosts remembers of HOST[:PORT] (its pinned certificate, that it was a secure room), then exit: after the server got a new certificate, or another server took its port')
            [CompletionResult]::new('--also', '--also', [CompletionResultType]::ParameterName, 'Another server of the same cluster, HOST:PORT (repeat for more): with --reconnect, tried in turn after the main one')
            [CompletionResult]::new('--room', '--room', [CompletionResultType]::ParameterName, 'A room to join (repeat for more); typed lines go to the first [default: the server''s default room]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read settings from this TOML file (see examples/tcpplay.toml)')
            [CompletionResult]::new('--register', '--register', [CompletionResultType]::ParameterName, 'Register your name as an account once joined (asks for a new password twice on a terminal; TLS servers with registration open)')
            [CompletionResult]::new('--change-password', '--change-password', [CompletionResultType]::ParameterName, 'Give your account a new password once logged in (asks for it twice on a terminal)')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Require TLS (never fall back to plaintext)')
            [CompletionResult]::new('--no-tls', '--no-tls', [CompletionResultType]::ParameterName, 'Plaintext only (do not try TLS first)')
            [CompletionResult]::new('--tls-insecure', '--tls-insecure', [CompletionResultType]::ParameterName, 'Do not verify the server certificate (testing only: anyone can impersonate the server)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object per received event (for scripts)')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Stay connected when input ends (or is /dev/null), printing what arrives: for loggers and bots. Ctrl-C or SIGTERM leaves (exit 0)')
            [CompletionResult]::new('--reconnect', '--reconnect', [CompletionResultType]::ParameterName, 'When the connection is lost (not closed by the server), reconnect with back-off')
            [CompletionResult]::new('--show-wire', '--show-wire', [CompletionResultType]::ParameterName, 'Print every protocol line sent (->) and received (<-) on stderr, secrets redacted')
            [CompletionResult]::new('--timestamps', '--timestamps', [CompletionResultType]::ParameterName, 'Show the time before each line')
            [CompletionResult]::new('--no-bell', '--no-bell', [CompletionResultType]::ParameterName, 'Do not ring the terminal bell when a line names you')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt; fail if a required value is missing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'tcpplay;gen-cert' {
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'Directory to write into [default: current directory]')
            [CompletionResult]::new('--cert-file', '--cert-file', [CompletionResultType]::ParameterName, 'Certificate file name or path [default: cert.pem]')
            [CompletionResult]::new('--key-file', '--key-file', [CompletionResultType]::ParameterName, 'Private key file name or path [default: key.pem]')
            [CompletionResult]::new('--days', '--days', [CompletionResultType]::ParameterName, 'Days of validity (browsers and Apple refuse more than 825)')
            [CompletionResult]::new('--san', '--san', [CompletionResultType]::ParameterName, 'Extra subject alternative name: a DNS name or an IP address (repeatable)')
            [CompletionResult]::new('--key-type', '--key-type', [CompletionResultType]::ParameterName, 'Key algorithm (RSA keys cannot be generated with this build''s crypto backend)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'An existing CA certificate to issue from [default: OUT_DIR/ca.pem]')
            [CompletionResult]::new('--ca-key', '--ca-key', [CompletionResultType]::ParameterName, 'The CA''s private key [default: OUT_DIR/ca-key.pem]')
            [CompletionResult]::new('--client', '--client', [CompletionResultType]::ParameterName, 'Issue a client certificate for NAME (mutual TLS; needs the local CA)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read settings from this TOML file (see examples/tcpplay.toml)')
            [CompletionResult]::new('--lan', '--lan', [CompletionResultType]::ParameterName, 'Also add this machine''s host name and LAN addresses, so other machines can verify it')
            [CompletionResult]::new('--ca', '--ca', [CompletionResultType]::ParameterName, 'Issue from a local CA (ca.pem, ca-key.pem): created once, reused after')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite existing files')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print a JSON summary instead of text')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt; fail if a required value is missing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'tcpplay;check' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'Server host name or IP address [default: 127.0.0.1]')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Server port [default: 12345]')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Server port [default: 12345]')
            [CompletionResult]::new('--cert', '--cert', [CompletionResultType]::ParameterName, 'Trust this certificate or CA (PEM) instead of the public roots; implies --tls')
            [CompletionResult]::new('--client-cert', '--client-cert', [CompletionResultType]::ParameterName, 'Present this client certificate (PEM) to a server that asks for one (mutual TLS)')
            [CompletionResult]::new('--client-key', '--client-key', [CompletionResultType]::ParameterName, 'The client certificate''s private key (PEM)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Also join as NAME, run ping round trips, and leave')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Also join as NAME, run ping round trips, and leave')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Room password file (secure rooms; or TCPPLAY_PASSWORD)')
            [CompletionResult]::new('--pings', '--pings', [CompletionResultType]::ParameterName, 'Ping round trips after joining')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds each network step may take')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'Also look at a cluster''s Redis, redis://HOST:PORT[/DB]: its nodes alive, their members, the latency (or cluster.url in the settings)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read settings from this TOML file (see examples/tcpplay.toml)')
            [CompletionResult]::new('--local', '--local', [CompletionResultType]::ParameterName, 'Only check local settings and files; do not connect')
            [CompletionResult]::new('--remote', '--remote', [CompletionResultType]::ParameterName, 'Probe the server named by the join settings')
            [CompletionResult]::new('--strict', '--strict', [CompletionResultType]::ParameterName, 'Exit 1 when there are warnings')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout (logs stay on stderr)')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt; fail if a required value is missing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'tcpplay;gen-room' {
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Where to write the record (owner-only) [default: room.record]')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the room password from the first line of this file (else TCPPLAY_PASSWORD, else asked twice on the terminal)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read settings from this TOML file (see examples/tcpplay.toml)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite an existing file')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt; fail if a required value is missing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'tcpplay;gen-account' {
            [CompletionResult]::new('--accounts', '--accounts', [CompletionResultType]::ParameterName, 'The accounts database [default: the one `serve` uses with these settings]')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the password from the first line of this file (else TCPPLAY_ACCOUNT_PASSWORD, else asked twice on the terminal)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read settings from this TOML file (see examples/tcpplay.toml)')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt; fail if a required value is missing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'tcpplay;completions' {
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Write the scripts for every shell into DIR (how completions/ is made)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read settings from this TOML file (see examples/tcpplay.toml)')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt; fail if a required value is missing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'tcpplay;man' {
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Write every page (tcpplay.1 and tcpplay-COMMAND.1) into DIR instead of showing one (how man/ is made)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read settings from this TOML file (see examples/tcpplay.toml)')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt; fail if a required value is missing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'tcpplay;help' {
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run a chat server')
            [CompletionResult]::new('join', 'join', [CompletionResultType]::ParameterValue, 'Join a chat server')
            [CompletionResult]::new('gen-cert', 'gen-cert', [CompletionResultType]::ParameterValue, 'Make a self-signed (or local-CA) certificate and key for TLS')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Diagnose settings, certificate files and a live server')
            [CompletionResult]::new('gen-room', 'gen-room', [CompletionResultType]::ParameterValue, 'Make a secure room''s record from its password, for `serve --room-record` (a server holding only the record cannot read the room)')
            [CompletionResult]::new('gen-account', 'gen-account', [CompletionResultType]::ParameterValue, 'Make (or give a new password to) an account in the accounts database, offline, for `serve` (its operators, or a closed server)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script (or write all of them with --dir)')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Show the manual (tcpplay(1), or a command''s page), or write every page into DIR')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'tcpplay;help;serve' {
            break
        }
        'tcpplay;help;join' {
            break
        }
        'tcpplay;help;gen-cert' {
            break
        }
        'tcpplay;help;check' {
            break
        }
        'tcpplay;help;gen-room' {
            break
        }
        'tcpplay;help;gen-account' {
            break
        }
        'tcpplay;help;completions' {
            break
        }
        'tcpplay;help;man' {
            break
        }
        'tcpplay;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
