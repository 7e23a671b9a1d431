
use builtin;
use str;

set edit:completion:arg-completer[tcpplay] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'tcpplay'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'tcpplay'= {
            cand --config 'Read settings from this TOML file (see examples/tcpplay.toml)'
            cand --no-input 'Never prompt; fail if a required value is missing'
            cand -v 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand serve 'Run a chat server'
            cand join 'Join a chat server'
            cand gen-cert 'Make a self-signed (or local-CA) certificate and key for TLS'
            cand check 'Diagnose settings, certificate files and a live server'
            cand gen-room 'Make a secure room''s record from its password, for `serve --room-record` (a server holding only the record cannot read the room)'
            cand gen-account 'Make (or give a new password to) an account in the accounts database, offline, for `serve` (its operators, or a closed server)'
            cand completions 'Print a shell completion script (or write all of them with --dir)'
            cand man 'Show the manual (tcpplay(1), or a command''s page), or write every page into DIR'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'tcpplay;serve'= {
            cand --bind 'Address to bind: 0.0.0.0 (all IPv4, the default), :: (all IPv6) or one address'
            cand -p 'TCP port (0 picks a free one) [default: 12345]'
            cand --port 'TCP port (0 picks a free one) [default: 12345]'
            cand --timeout 'Ping a client silent this many seconds; drop it if it stays silent as long again (tcpplay join answers by itself; 0 = never) [default: 0]'
            cand --password 'Room password (visible to other users in the process list: prefer --password-file, TCPPLAY_PASSWORD or the prompt)'
            cand --password-file 'Read the room password from the first line of this file'
            cand --room-record 'The secure room''s record (from `tcpplay gen-room`): no password needed'
            cand --workers 'Threads serving clients (0 = one per CPU core) [default: 0]'
            cand --metrics 'Serve /metrics (OpenMetrics), /healthz and /readyz over HTTP on this address, e.g. 127.0.0.1:9100 (off by default)'
            cand --log-format 'Log format: text (for people) or json (one object per line; chat lines are then not echoed unless serve.quiet = false is set) [default: text]'
            cand --cert 'Certificate chain (PEM)'
            cand --key 'Private key (PEM)'
            cand --client-ca 'Require client certificates issued by this CA (mutual TLS; see `gen-cert --client`)'
            cand --history 'Keep chat history in this SQLite file [default: history/BIND-PORT.sqlite3 in the user''s data dir, one per server]'
            cand --motd 'Message of the day, sent to each member after joining'
            cand --motd-file 'Read the message of the day from this file'
            cand --web 'Serve the browser page and its WebSocket on this address, e.g. 0.0.0.0:8080 (HTTPS/WSS under --tls)'
            cand --irc 'Let IRC clients in on this address, e.g. 0.0.0.0:6667 (IRC over TLS under --tls: 6697 is the usual port). Off by default'
            cand --registration 'Who may register an account: open, operator (only `tcpplay gen-account`), closed (accounts made before still log in) [default: closed]'
            cand --accounts 'The accounts database; in a cluster, the node''s durable copy of the cluster''s accounts goes beside it as cluster-NODE-FILE [default: accounts/BIND-PORT.sqlite3 in the data directory]'
            cand --operator 'An account that operates every room (repeat for more; a guest cannot take the name)'
            cand --cluster 'Cluster mode: share rooms with the other servers on this Redis, redis://HOST:PORT[/DB] or rediss:// (TLS). A password belongs in TCPPLAY_CLUSTER__URL or the config file, not here'
            cand --node 'This server''s name in the cluster [default: HOSTNAME-PORT]'
            cand --config 'Read settings from this TOML file (see examples/tcpplay.toml)'
            cand --secure 'Password-protected secure room (requires TLS)'
            cand --reset-room 'Give the secure room a new record from the password given (its old sealed messages become unreadable and are removed from the history)'
            cand --tls 'Serve over TLS (needs --cert and --key; see `tcpplay gen-cert`)'
            cand --check-config 'Check the settings, certificate, key, history and room record, then exit (0: fine, 2: an error) without listening: for ExecStartPre'
            cand -q 'Do not echo chat lines on the console'
            cand --quiet 'Do not echo chat lines on the console'
            cand --no-history 'Keep no chat history (nothing is written to disk)'
            cand --no-input 'Never prompt; fail if a required value is missing'
            cand -v 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'tcpplay;join'= {
            cand --host 'Server host name or IP address [default: 127.0.0.1]'
            cand -p 'Server port [default: 12345]'
            cand --port 'Server port [default: 12345]'
            cand --cert 'Trust this certificate or CA (PEM) instead of the public roots; implies --tls'
            cand --client-cert 'Present this client certificate (PEM) to a server that asks for one (mutual TLS)'
            cand --client-key 'The client certificate''s private key (PEM)'
            cand -n 'Your name in the room (1-24 characters)'
            cand --name 'Your name in the room (1-24 characters)'
            cand --timeout 'Connect and handshake timeout in seconds (0 = none) [default: 10]'
            cand --password 'Room password for a secure server (visible in the process list: prefer --password-file, TCPPLAY_PASSWORD or the prompt)'
            cand --password-file 'Read the room password from the first line of this file'
            cand --account-password-file 'Read your account''s password from the first line of this file (or set TCPPLAY_ACCOUNT_PASSWORD; on a terminal it is asked when needed)'
            cand --new-password-file '--register or --change-password without a terminal: the new password, from the first line of this file'
            cand --forget-host 'Forget what known_hosts remembers of HOST[:PORT] (its pinned certificate, that it was a secure room), then exit: after the server got a new certificate, or another server took its port'
            cand --also 'Another server of the same cluster, HOST:PORT (repeat for more): with --reconnect, tried in turn after the main one'
            cand --room 'A room to join (repeat for more); typed lines go to the first [default: the server''s default room]'
            cand --config 'Read settings from this TOML file (see examples/tcpplay.toml)'
            cand --register 'Register your name as an account once joined (asks for a new password twice on a terminal; TLS servers with registration open)'
            cand --change-password 'Give your account a new password once logged in (asks for it twice on a terminal)'
            cand --tls 'Require TLS (never fall back to plaintext)'
            cand --no-tls 'Plaintext only (do not try TLS first)'
            cand --tls-insecure 'Do not verify the server certificate (testing only: anyone can impersonate the server)'
            cand --json 'Print one JSON object per received event (for scripts)'
            cand --listen 'Stay connected when input ends (or is /dev/null), printing what arrives: for loggers and bots. Ctrl-C or SIGTERM leaves (exit 0)'
            cand --reconnect 'When the connection is lost (not closed by the server), reconnect with back-off'
            cand --show-wire 'Print every protocol line sent (->) and received (<-) on stderr, secrets redacted'
            cand --timestamps 'Show the time before each line'
            cand --no-bell 'Do not ring the terminal bell when a line names you'
            cand --no-input 'Never prompt; fail if a required value is missing'
            cand -v 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'tcpplay;gen-cert'= {
            cand --out-dir 'Directory to write into [default: current directory]'
            cand --cert-file 'Certificate file name or path [default: cert.pem]'
            cand --key-file 'Private key file name or path [default: key.pem]'
            cand --days 'Days of validity (browsers and Apple refuse more than 825)'
            cand --san 'Extra subject alternative name: a DNS name or an IP address (repeatable)'
            cand --key-type 'Key algorithm (RSA keys cannot be generated with this build''s crypto backend)'
            cand --ca-cert 'An existing CA certificate to issue from [default: OUT_DIR/ca.pem]'
            cand --ca-key 'The CA''s private key [default: OUT_DIR/ca-key.pem]'
            cand --client 'Issue a client certificate for NAME (mutual TLS; needs the local CA)'
            cand --config 'Read settings from this TOML file (see examples/tcpplay.toml)'
            cand --lan 'Also add this machine''s host name and LAN addresses, so other machines can verify it'
            cand --ca 'Issue from a local CA (ca.pem, ca-key.pem): created once, reused after'
            cand --force 'Overwrite existing files'
            cand --json 'Print a JSON summary instead of text'
            cand --no-input 'Never prompt; fail if a required value is missing'
            cand -v 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'tcpplay;check'= {
            cand --host 'Server host name or IP address [default: 127.0.0.1]'
            cand -p 'Server port [default: 12345]'
            cand --port 'Server port [default: 12345]'
            cand --cert 'Trust this certificate or CA (PEM) instead of the public roots; implies --tls'
            cand --client-cert 'Present this client certificate (PEM) to a server that asks for one (mutual TLS)'
            cand --client-key 'The client certificate''s private key (PEM)'
            cand -n 'Also join as NAME, run ping round trips, and leave'
            cand --name 'Also join as NAME, run ping round trips, and leave'
            cand --password-file 'Room password file (secure rooms; or TCPPLAY_PASSWORD)'
            cand --pings 'Ping round trips after joining'
            cand --timeout 'Seconds each network step may take'
            cand --cluster 'Also look at a cluster''s Redis, redis://HOST:PORT[/DB]: its nodes alive, their members, the latency (or cluster.url in the settings)'
            cand --config 'Read settings from this TOML file (see examples/tcpplay.toml)'
            cand --local 'Only check local settings and files; do not connect'
            cand --remote 'Probe the server named by the join settings'
            cand --strict 'Exit 1 when there are warnings'
            cand --json 'Print one JSON document on stdout (logs stay on stderr)'
            cand --no-input 'Never prompt; fail if a required value is missing'
            cand -v 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'tcpplay;gen-room'= {
            cand --out 'Where to write the record (owner-only) [default: room.record]'
            cand --password-file 'Read the room password from the first line of this file (else TCPPLAY_PASSWORD, else asked twice on the terminal)'
            cand --config 'Read settings from this TOML file (see examples/tcpplay.toml)'
            cand --force 'Overwrite an existing file'
            cand --no-input 'Never prompt; fail if a required value is missing'
            cand -v 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'tcpplay;gen-account'= {
            cand --accounts 'The accounts database [default: the one `serve` uses with these settings]'
            cand --password-file 'Read the password from the first line of this file (else TCPPLAY_ACCOUNT_PASSWORD, else asked twice on the terminal)'
            cand --config 'Read settings from this TOML file (see examples/tcpplay.toml)'
            cand --no-input 'Never prompt; fail if a required value is missing'
            cand -v 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'tcpplay;completions'= {
            cand --dir 'Write the scripts for every shell into DIR (how completions/ is made)'
            cand --config 'Read settings from this TOML file (see examples/tcpplay.toml)'
            cand --no-input 'Never prompt; fail if a required value is missing'
            cand -v 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'tcpplay;man'= {
            cand --dir 'Write every page (tcpplay.1 and tcpplay-COMMAND.1) into DIR instead of showing one (how man/ is made)'
            cand --config 'Read settings from this TOML file (see examples/tcpplay.toml)'
            cand --no-input 'Never prompt; fail if a required value is missing'
            cand -v 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
            cand --verbose 'More log output on stderr (-v debug, -vv trace). TCPPLAY_LOG overrides'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'tcpplay;help'= {
            cand serve 'Run a chat server'
            cand join 'Join a chat server'
            cand gen-cert 'Make a self-signed (or local-CA) certificate and key for TLS'
            cand check 'Diagnose settings, certificate files and a live server'
            cand gen-room 'Make a secure room''s record from its password, for `serve --room-record` (a server holding only the record cannot read the room)'
            cand gen-account 'Make (or give a new password to) an account in the accounts database, offline, for `serve` (its operators, or a closed server)'
            cand completions 'Print a shell completion script (or write all of them with --dir)'
            cand man 'Show the manual (tcpplay(1), or a command''s page), or write every page into DIR'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'tcpplay;help;serve'= {
        }
        &'tcpplay;help;join'= {
        }
        &'tcpplay;help;gen-cert'= {
        }
        &'tcpplay;help;check'= {
        }
        &'tcpplay;help;gen-room'= {
        }
        &'tcpplay;help;gen-account'= {
        }
        &'tcpplay;help;completions'= {
        }
        &'tcpplay;help;man'= {
        }
        &'tcpplay;help;help'= {
        }
    ]
    $completions[$command]
}
