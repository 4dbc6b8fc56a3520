package TriggerTest;

# Test harness for ngx_http_trigger_module: Test::More based, no Test::Nginx.
#
# One TriggerTest object per test file:
#
#   use lib 't/lib';
#   use Test::More;
#   use TriggerTest;
#
#   my $t = TriggerTest->new->require_module;  # temp dir + free ports;
#                                            # skip_all when the .so is missing
#   $t->start_redis;                         # real redis-server, free port
#   $t->write_file('html/index.html', "hi\n");
#   $t->start_nginx(workers => 2, http => <<'EOF');
#       %%TRIGGER_BASE%%
#       server {
#           listen 127.0.0.1:%%PORT%%;
#           root %%HTML%%;
#           location / { trigger on; add_header X-Depth $trigger_depth always; }
#       }
#   EOF
#   my $v = $t->visitor;                     # a browser with a cookie jar
#   is($v->get('/index.html')->header('X-Depth'), 1);
#   is($v->hash->{d}, 1);                    # HGETALL trg:{vid}
#   $t->done;                                # teardown checks + done_testing
#
# Configuration: the test gives the body of the http block ("http") and,
# if needed, main-level ("main") or events-level ("events") directives.
# make_conf() wraps it with load_module (<repo>/build/...so, unless
# load_module => 0), daemon off, master_process on, worker_processes
# (workers => N, default 1), error_log TMP/error.log debug, pid, and
# access_log and every *_temp_path inside the temp dir.  nginx runs as
# "nginx -p TMP/ -c TMP/nginx.conf -e TMP/error.log" (fork + exec).
# Placeholders, replaced everywhere in the template:
#
#   %%PORT%% %%PORT2%% %%PORT3%%  free ports on 127.0.0.1 ($t->port(2) ...)
#   %%REDIS_PORT%%    the redis-server port
#   %%REDIS_SOCK%%    its unix socket (TMP/redis.sock, mode 777)
#   %%TMP%%           the temp dir; %%HTML%% = TMP/html (a document root)
#   %%SECRET%%        a 32-char trigger_secret ($t->secret)
#   (links)           $t->signed_link(purpose, email, expires) is the path
#                     of a letter's confirm/unsubscribe link
#   %%PURCHASE_KEY%%  a trigger_api_purchase_key; $v->signed_purchase(
#                     order =>, cents =>, promo =>) makes events it signs
#   %%TIMEOUT%%       a generous trigger_redis_timeout for tests that do
#                     not test timeouts (1s; 10s under valgrind)
#   %%TRIGGER_BASE%%  trigger_redis 127.0.0.1:%%REDIS_PORT%%;
#                     trigger_secret %%SECRET%%; trigger_redis_timeout %%TIMEOUT%%;
#
# nginx:  start_nginx(%o) waits for the port and every worker;
#         reload(%o) HUP (optionally with a new template), waits for the new
#         workers and for the old ones to exit (false + diag otherwise);
#         stop_nginx QUIT, fails a test past 10 s; nginx_t(%o) runs
#         "nginx -t" on a template and returns (ok, output);
#         worker_pids, error_log, grep_log(qr//), allow_log(qr//).
# Redis:  start_redis(password => ..., args => [...]), stop_redis,
#         restart_redis (same port), pause_redis / resume_redis (SIGSTOP /
#         SIGCONT: a Redis that never answers), redis (a Redis.pm client),
#         visitor_hash($vid), visitor_orders($vid), visitor_keys,
#         key_prefix('trg:').
# HTTP:   http_request(port =>, path =>, method =>, ua =>, cookies =>,
#         headers => [[n, v]], body =>, raw =>), http_get, http_post,
#         $t->get / $t->post (main port), http_parallel(@requests) (all at
#         once on separate connections), background_load($path, ...) (a
#         forked request loop, for reloads under load).  Responses:
#         status, header, headers (multi-valued), set_cookie($name) (parsed
#         attributes), body, json, elapsed (seconds: only generous bounds).
#         The default User-Agent is a browser's: bots and an empty or
#         missing UA are not tracked by design (ua => '' or 'NONE').
# Visitor: $t->visitor(ua =>, port =>, cookies => {...}) keeps Set-Cookie
#         values across requests; vid, cookie, hash, cart, orders, key.
# ESP:    start_esp(args => [...]) runs esp/fake-esp (the local email
#         service provider) on two more free ports, %%ESP_PORT%% (HTTP)
#         and %%ESP_SMTP_PORT%% (SMTP), output in TMP/esp.log;
#         esp_messages(to => ..., provider => ...) the letters it took
#         (decoded GET /messages); stop_esp (TERM; true when it exited 0).
#
# Teardown ($t->done; END only kills processes if a test died): nginx is
# stopped with QUIT, redis (and the fake ESP) are stopped, and a test
# fails when error.log has
# [alert], [emerg], "open socket #N left", AddressSanitizer/LeakSanitizer
# or a worker "exited on signal" (allow_log() excuses lines a test
# provokes on purpose).
#
# Environment:
#   TEST_KEEP=1            keep the temp dir (its path is printed)
#   TEST_NGINX_VALGRIND=1  run nginx under valgrind (valgrind_cmd: memcheck,
#                          full leak check, t/valgrind.suppress, one log per
#                          process TMP/valgrind.PID.log, forks followed);
#                          longer start/stop timeouts; teardown fails on any
#                          error or definite leak in those logs
#   TEST_NGINX_BINARY      nginx binary (default /usr/sbin/nginx)
#   TEST_REDIS_BINARY      redis-server binary (default redis-server)
#   TEST_TRIGGER_ZONE      %%TRIGGER_BASE%% also turns the visitors' zone on
#                          (trigger_zone, flushed every 5ms; "0": with
#                          trigger_zone_valid 0), and a server on a port of
#                          its own answers $trigger_zone_pending: redis()
#                          waits until the journal is in Redis, so tests
#                          read what the requests they made left there

use strict;
use warnings;

use Cwd qw(abs_path);
use Digest::SHA ();
use Errno qw(EINTR);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(WNOHANG _exit setsid);
use Time::HiRes qw(time sleep);
use Test::More;
use JSON::PP ();

use Exporter 'import';
our @EXPORT = qw(http_request http_get http_post json_encode json_decode
                 wait_until status_seen $DEFAULT_UA);

our $REPO = abs_path(dirname(__FILE__) . '/../..');
our $MODULE = "$REPO/build/ngx_http_trigger_module.so";
our $NGINX = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
our $REDIS_SERVER = $ENV{TEST_REDIS_BINARY} || 'redis-server';
our $VALGRIND = $ENV{TEST_NGINX_VALGRIND} ? 1 : 0;
our $DEFAULT_UA = 'Mozilla/5.0 (X11; Linux x86_64) TriggerTest';
our $SECRET = 'test-secret-0123456789abcdefghij';
our $PURCHASE_KEY = 'test-purchase-key-0123456789abcd';

my @INSTANCES;

# $trigger_status as the suite expects it: with TEST_TRIGGER_ZONE a page
# counted in the zone ("zone") is a tracked one
sub status_seen {
    my ($s) = @_;
    return 'tracked' if ($s // '') eq 'zone' && defined $ENV{TEST_TRIGGER_ZONE};
    return $s;
}

sub json_encode { JSON::PP->new->canonical->encode($_[0]) }
sub json_decode { my $d = eval { JSON::PP->new->decode($_[0]) }; $d }

# wait_until(sub { ... }, timeout => 5, interval => 0.05): true once the
# sub returns true, false when the (bounded) time runs out.
sub wait_until {
    my ($cond, %o) = @_;
    my $deadline = time + ($o{timeout} // 5);
    my $interval = $o{interval} // 0.05;
    while (1) {
        my $r = $cond->();
        return $r if $r;
        return 0 if time > $deadline;
        sleep $interval;
    }
}

# --------------------------------------------------------------- object

sub new {
    my ($class, %o) = @_;

    my $keep = $ENV{TEST_KEEP} ? 1 : 0;
    my $dir = tempdir('trigger-test-XXXXXX', TMPDIR => 1, CLEANUP => !$keep);
    # workers run as an unprivileged user: they must read the html root
    # and reach the redis unix socket
    chmod 0755, $dir;
    diag("TEST_KEEP: files in $dir") if $keep;

    my $self = bless {
        dir        => $dir,
        ports      => {},
        allow_log  => [],
        owner      => $$,
        nginx_pid  => undef,
        redis_pid  => undef,
        conf_count => 0,
    }, $class;

    $self->{ports}{PORT} = free_port();
    $self->{ports}{PORT2} = free_port($self->{ports}{PORT});
    $self->{ports}{PORT3} = free_port(@{$self->{ports}}{qw(PORT PORT2)});
    $self->{ports}{REDIS_PORT} = free_port(values %{$self->{ports}});
    $self->{ports}{ZONE_PORT} = free_port(values %{$self->{ports}})
        if defined $ENV{TEST_TRIGGER_ZONE};

    make_path("$dir/html");
    push @INSTANCES, $self;

    return $self;
}

sub dir { $_[0]{dir} }
# port() = %%PORT%%, port(2) = %%PORT2%%, port('REDIS_PORT') ...
sub port {
    my ($self, $n) = @_;
    my $name = !defined $n || $n eq '1' ? 'PORT' : $n =~ /^\d+$/ ? "PORT$n" : $n;
    return $self->{ports}{$name} // die "no port $name";
}
sub redis_port { $_[0]{ports}{REDIS_PORT} }
sub secret { $SECRET }
sub valgrind { $VALGRIND }
sub module_path { $MODULE }

# Skips the whole file when the module is not built.
sub require_module {
    my ($self) = @_;
    plan skip_all => "module not built: $MODULE (run make)" unless -f $MODULE;
    return $self;
}

# A free TCP port on 127.0.0.1, picked at random below the ephemeral
# range (so outgoing connections do not take it before nginx or redis
# binds it, and parallel test files rarely collide).
sub free_port {
    my %taken = map { $_ => 1 } grep { defined } @_;
    for (1 .. 200) {
        my $p = 20000 + int(rand(12000));
        next if $taken{$p};
        my $s = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1', LocalPort => $p, Proto => 'tcp',
            Listen => 1, ReuseAddr => 1) or next;
        close $s;
        return $p;
    }
    die "no free port found";
}

sub write_file {
    my ($self, $name, $content) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    make_path(dirname($path));
    open my $fh, '>', $path or die "$path: $!";
    print $fh $content;
    close $fh;
    chmod 0644, $path;
    return $path;
}

sub read_file {
    my ($self, $name) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    open my $fh, '<', $path or return '';
    local $/;
    my $c = <$fh>;
    close $fh;
    return $c;
}

# Excuses error.log lines matching $re from the teardown checks.
sub allow_log {
    my ($self, $re) = @_;
    push @{$self->{allow_log}}, $re;
}

# ---------------------------------------------------------------- redis

sub start_redis {
    my ($self, %o) = @_;
    die "redis already running" if $self->{redis_pid};
    my $port = $self->{ports}{REDIS_PORT};
    my $dir = $self->{dir};
    my @args = ($REDIS_SERVER, '--port', $port, '--bind', '127.0.0.1',
                '--save', '', '--appendonly', 'no', '--dir', $dir,
                '--daemonize', 'no',
                '--unixsocket', "$dir/redis.sock", '--unixsocketperm', '777',
                @{ $o{args} || $self->{redis_args} || [] });
    $self->{redis_args} = $o{args} if $o{args};
    $self->{redis_password} = $o{password} if exists $o{password};
    push @args, '--requirepass', $self->{redis_password}
        if defined $self->{redis_password};

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/redis.log";
        open STDERR, '>&', \*STDOUT;
        exec @args or _exit(127);
    }
    $self->{redis_pid} = $pid;
    delete $self->{redis_client};

    my $ok = wait_until(sub { $self->redis_ping }, timeout => 10);
    die "redis-server did not answer PING on port $port:\n"
        . $self->read_file('redis.log') unless $ok;
    return $self;
}

# PING over a raw socket (true when PONG)
sub redis_ping {
    my ($self) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $self->{ports}{REDIS_PORT}, Proto => 'tcp',
        Timeout => 1) or return 0;
    print $s "PING\r\n";
    my $sel = IO::Select->new($s);
    return 0 unless $sel->can_read(1);
    my $line = <$s> // '';
    close $s;
    # with requirepass an unauthenticated PING gets -NOAUTH: it answers
    return $line =~ /^(?:\+PONG|-NOAUTH)/;
}

sub stop_redis {
    my ($self) = @_;
    my $pid = delete $self->{redis_pid} or return;
    delete $self->{redis_client};
    kill 'CONT', $pid;
    kill 'TERM', $pid;
    unless (wait_pid($pid, 10)) {
        kill 'KILL', $pid;
        wait_pid($pid, 5);
    }
}

sub restart_redis {
    my ($self) = @_;
    $self->stop_redis;
    $self->start_redis;
}

# SIGSTOP: connections stay open but nothing answers (a slow Redis)
sub pause_redis { my ($self) = @_; kill 'STOP', $self->{redis_pid} }
sub resume_redis { my ($self) = @_; kill 'CONT', $self->{redis_pid} }

# TEST_TRIGGER_ZONE: the zone in every configuration with the module
sub zone_base {
    return '' unless defined $ENV{TEST_TRIGGER_ZONE};
    return "\n    trigger_zone trigger_test:4m;\n    trigger_zone_flush 5ms;"
         . ($ENV{TEST_TRIGGER_ZONE} eq '0' ? "\n    trigger_zone_valid 0;" : '')
         . "\n    server { listen 127.0.0.1:%%ZONE_PORT%%;"
         . " location / { return 200 \$trigger_zone_pending; } }";
}

# waits (5 s at most) until the zone's journal is in Redis
sub zone_sync {
    my ($self) = @_;
    return unless defined $ENV{TEST_TRIGGER_ZONE} && $self->{nginx_pid};
    wait_until(sub {
        my $r = http_request(port => $self->{ports}{ZONE_PORT}, path => '/',
                             timeout => 2);
        return $r->error || $r->status != 200 || $r->body eq '0';
    }, timeout => 5, interval => 0.005);
}

# A Redis client (libredis-perl) for assertions; new after each restart
# (authenticated when start_redis had a password).  With TEST_TRIGGER_ZONE
# the zone's journal is written first.
sub redis {
    my ($self) = @_;
    $self->zone_sync;
    return $self->{redis_client} ||= do {
        require Redis;
        Redis->new(server => "127.0.0.1:$self->{ports}{REDIS_PORT}",
                   cnx_timeout => 2, read_timeout => 5, write_timeout => 5,
                   reconnect => 0,
                   (defined $self->{redis_password}
                       ? (password => $self->{redis_password}) : ()));
    };
}

# the path of a letter's signed link, as the module makes it:
# /_trigger/<purpose>?e=<sha1 of the address>&t=<expiry>.<mac>
sub signed_link {
    my ($self, $purpose, $email, $expires, %o) = @_;
    my $digest = Digest::SHA::sha1_hex($email);
    my $mac = substr(Digest::SHA::hmac_sha256("$purpose:$digest:$expires",
                                              $o{secret} // $SECRET), 0, 16);
    require MIME::Base64;
    return ($o{api} // '/_trigger/') . "$purpose?e=$digest&t=$expires."
           . MIME::Base64::encode_base64url($mac);
}

sub key_prefix {
    my ($self, $p) = @_;
    $self->{key_prefix} = $p if defined $p;
    return $self->{key_prefix} // 'trg:';
}

sub visitor_key {
    my ($self, $vid) = @_;
    return $self->key_prefix . '{' . $vid . '}';
}

# HGETALL of a visitor's hash as a hash ref ({} when absent)
# The visitor's hash; the viewed products (fields v1, v2, ...) also come
# joined, most recent first, as {v} = "SKU1,SKU2,...".
sub visitor_hash {
    my ($self, $vid) = @_;
    my %h = $self->redis->hgetall($self->visitor_key($vid));
    my @viewed;
    push @viewed, $h{'v' . (@viewed + 1)} while exists $h{'v' . (@viewed + 1)};
    $h{v} = join ',', @viewed if @viewed;
    return \%h;
}

sub visitor_orders {
    my ($self, $vid) = @_;
    my %h = $self->redis->hgetall($self->visitor_key($vid) . ':o');
    return \%h;
}

# keys with the visitor prefix (but the zones' journals)
sub visitor_keys {
    my ($self) = @_;
    return grep { $_ ne $self->key_prefix . 'journal' }
           $self->redis->keys($self->key_prefix . '*');
}

# ------------------------------------------------------------ fake ESP

sub start_esp {
    my ($self, %o) = @_;
    die "fake-esp already running" if $self->{esp_pid};
    my $p = $self->{ports};
    $p->{ESP_PORT} //= free_port(values %$p);
    $p->{ESP_SMTP_PORT} //= free_port(values %$p);
    my $dir = $self->{dir};
    unlink "$dir/esp.log";
    my @cmd = ("$REPO/esp/fake-esp", '--quiet',
               '--http', "127.0.0.1:$p->{ESP_PORT}",
               '--smtp', "127.0.0.1:$p->{ESP_SMTP_PORT}",
               @{ $o{args} || [] });
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$dir/esp.log";
        open STDERR, '>&', \*STDOUT;
        exec @cmd or _exit(127);
    }
    $self->{esp_pid} = $pid;
    # the start-up line comes once both ports listen
    my $ok = wait_until(sub {
        return -1 if waitpid($pid, WNOHANG) == $pid;
        return $self->read_file('esp.log') =~ /^fake-esp: http on /m;
    }, timeout => 10);
    if (!$ok || $ok == -1) {
        delete $self->{esp_pid};
        kill 'KILL', $pid if $ok != -1;
        wait_pid($pid, 5) if $ok != -1;
        die "fake-esp did not start:\n" . $self->read_file('esp.log');
    }
    return $self;
}

sub stop_esp {
    my ($self) = @_;
    my $pid = delete $self->{esp_pid} or return 1;
    kill 'TERM', $pid;
    return 1 if wait_pid($pid, 10) && $? == 0;
    kill 'KILL', $pid;
    wait_pid($pid, 5);
    return 0;
}

sub esp_messages {
    my ($self, %q) = @_;
    my $qs = join '&', map { "$_=$q{$_}" } sort keys %q;
    my $r = http_get($self->port('ESP_PORT'), "/messages?$qs");
    return $r->status == 200 ? $r->json : undef;
}

# ---------------------------------------------------------------- nginx

sub valgrind_cmd {
    my ($self) = @_;
    return ('valgrind', '--quiet', '--leak-check=full',
            '--show-possibly-lost=no', '--error-exitcode=0',
            '--num-callers=30', '--keep-debuginfo=yes',
            "--suppressions=$REPO/t/valgrind.suppress",
            "--log-file=$self->{dir}/valgrind.%p.log");
}

sub expand {
    my ($self, $text) = @_;
    my $timeout = $VALGRIND ? '10s' : '1s';
    my %v = (
        %{$self->{ports}},
        TRIGGER_BASE => "trigger_redis 127.0.0.1:%%REDIS_PORT%%;\n"
                      . "    trigger_secret %%SECRET%%;\n"
                      . "    trigger_redis_timeout %%TIMEOUT%%;"
                      . zone_base(),
    );
    $text =~ s/%%TRIGGER_BASE%%/$v{TRIGGER_BASE}/g;
    %v = (
        %{$self->{ports}},
        TMP => $self->{dir},
        HTML => "$self->{dir}/html",
        SECRET => $SECRET,
        PURCHASE_KEY => $PURCHASE_KEY,
        TIMEOUT => $timeout,
        REDIS_SOCK => "$self->{dir}/redis.sock",
        MODULE => $MODULE,
    );
    $text =~ s/%%([A-Z0-9_]+)%%/exists $v{$1} ? $v{$1}
        : die "unknown placeholder %%$1%%"/ge;
    return $text;
}

# The complete nginx.conf for a template (see the top of this file).
sub make_conf {
    my ($self, %o) = @_;
    my $dir = $self->{dir};
    my $workers = $o{workers} // 1;
    my $load = ($o{load_module} // 1) ? "load_module $MODULE;\n" : '';
    my $main = $o{main} // '';
    my $events = $o{events} // '';
    my $http = $o{http} // die "start_nginx: no http template";

    my $conf = <<"EOF";
# generated by t/lib/TriggerTest.pm
${load}daemon off;
master_process on;
worker_processes $workers;
error_log $dir/error.log debug;
pid $dir/nginx.pid;
$main

events {
    worker_connections 1024;
    $events
}

http {
    access_log $dir/access.log;
    client_body_temp_path $dir/client_body_temp;
    proxy_temp_path $dir/proxy_temp;
    fastcgi_temp_path $dir/fastcgi_temp;
    uwsgi_temp_path $dir/uwsgi_temp;
    scgi_temp_path $dir/scgi_temp;
    default_type text/html;

$http
}
EOF
    return $self->expand($conf);
}

# Runs "nginx -t" on a template; returns (ok, output).
sub nginx_t {
    my ($self, %o) = @_;
    my $n = ++$self->{conf_count};
    my $conf = $self->write_file("test$n.conf", $self->make_conf(%o));
    my $out = `$NGINX -t -p $self->{dir}/ -c $conf -e $self->{dir}/test$n.log 2>&1`;
    my $ok = $? == 0;
    return ($ok, $out);
}

sub start_nginx {
    my ($self, %o) = @_;
    die "nginx already running" if $self->{nginx_pid};
    $self->{nginx_opts} = { %o };
    $self->{workers} = $o{workers} // 1;
    my $dir = $self->{dir};
    $self->write_file('nginx.conf', $self->make_conf(%o));

    my @cmd = ($NGINX, '-p', "$dir/", '-c', "$dir/nginx.conf",
               '-e', "$dir/error.log");
    unshift @cmd, $self->valgrind_cmd if $VALGRIND;

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/nginx.stderr";
        open STDERR, '>&', \*STDOUT;
        exec @cmd or _exit(127);
    }
    $self->{nginx_pid} = $pid;
    $self->{started_at} //= time;

    my $timeout = $VALGRIND ? 60 : 10;
    my $port = $self->{ports}{PORT};
    my $ok = wait_until(sub {
        return -1 if waitpid($pid, WNOHANG) == $pid;
        return 0 unless $self->_can_connect($port);
        # every worker up (and through init_process)
        my @w = $self->worker_pids;
        return @w >= $self->{workers};
    }, timeout => $timeout);

    if (!$ok || $ok == -1) {
        my $why = $ok == -1 ? "exited with status $?" : "timed out";
        delete $self->{nginx_pid};
        kill 'KILL', $pid if $ok != -1;
        wait_pid($pid, 5) if $ok != -1;
        my $log = $self->read_file('error.log');
        my @lines = grep { /\[(emerg|alert|crit|error)\]/ } split /\n/, $log;
        die "nginx did not start ($why):\n"
            . join("\n", @lines[-(@lines < 20 ? @lines : 20) .. -1]) . "\n"
            . $self->read_file('nginx.stderr');
    }
    return $self;
}

sub nginx_pid { $_[0]{nginx_pid} }

sub _can_connect {
    my ($self, $port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

# Children of the master that are alive and not zombies (workers; the
# cache manager would count too, the tests do not configure caches).
sub worker_pids {
    my ($self) = @_;
    my $master = $self->{nginx_pid} or return ();
    my @pids;
    opendir my $d, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my $stat = <$fh> // next;
        close $fh;
        # pid (comm) state ppid ...
        next unless $stat =~ /^\d+ \(.*\) (\S) (\d+)/s;
        next unless $2 == $master && $1 ne 'Z';
        push @pids, $p;
    }
    closedir $d;
    @pids = sort { $a <=> $b } @pids;
    return @pids;
}

# HUP, optionally with a new template (same options as start_nginx).
# Waits for the new workers and for the old ones to exit; returns true
# when both happened in time (the old ones exiting is part of what is
# tested: a module that keeps non-cancelable timers keeps them alive).
sub reload {
    my ($self, %o) = @_;
    my $pid = $self->{nginx_pid} or die "nginx not running";
    if (%o) {
        $self->{workers} = $o{workers} // 1;
        $self->write_file('nginx.conf', $self->make_conf(%o));
    }
    my %old = map { $_ => 1 } $self->worker_pids;
    kill 'HUP', $pid;
    my $timeout = $VALGRIND ? 60 : 10;
    my $new = wait_until(sub {
        my @new = grep { !$old{$_} } $self->worker_pids;
        return @new >= $self->{workers};
    }, timeout => $timeout);
    unless ($new) {
        diag("reload: no new workers within $timeout s");
        return 0;
    }
    my $gone = wait_until(sub {
        my %now = map { $_ => 1 } $self->worker_pids;
        return !grep { $now{$_} } keys %old;
    }, timeout => $timeout);
    diag("reload: old workers still alive after $timeout s") unless $gone;
    return $gone;
}

# QUIT; a test fails when nginx takes more than 10 s to exit (60 s under
# valgrind, or $o{timeout}); returns true when it exited in time.
sub stop_nginx {
    my ($self, %o) = @_;
    my $pid = delete $self->{nginx_pid} or return 1;
    my $limit = $o{timeout} // ($VALGRIND ? 60 : 10);
    kill 'QUIT', $pid;
    my $t0 = time;
    my $ok = wait_pid($pid, $limit);
    my $took = time - $t0;
    unless ($ok) {
        fail("nginx exits within $limit s after QUIT");
        diag(sprintf "nginx did not exit %.1f s after QUIT; workers: %s",
             $took, join(' ', $self->_children($pid)));
        kill 'KILL', -$pid;
        kill 'KILL', $pid;
        wait_pid($pid, 5);
    }
    $self->{last_stop_time} = $took;
    return $ok;
}

sub _children {
    my ($self, $master) = @_;
    local $self->{nginx_pid} = $master;
    return $self->worker_pids;
}

sub wait_pid {
    my ($pid, $timeout) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        my $r = waitpid($pid, WNOHANG);
        return 1 if $r == $pid || $r == -1;
        sleep 0.02;
    }
    return 0;
}

sub error_log { $_[0]->read_file('error.log') }

# error.log lines matching $re
sub grep_log {
    my ($self, $re, $file) = @_;
    return grep { /$re/ } split /\n/, $self->read_file($file // 'error.log');
}

# The lines that fail a test at teardown.
sub bad_log_lines {
    my ($self) = @_;
    my @bad;
    for my $line (split /\n/, $self->error_log) {
        next unless $line =~ /\[(?:alert|emerg)\]/
            || $line =~ /open socket #\d+ left/
            || $line =~ /AddressSanitizer|LeakSanitizer/
            || $line =~ /exited on signal/;
        next if grep { $line =~ $_ } @{$self->{allow_log}};
        push @bad, $line;
    }
    return @bad;
}

# Valgrind runs with --quiet: whatever it writes is a report (errors,
# "definitely lost" records), except its "Warning:" notes.  The summary
# lines are matched as well in case --quiet is dropped.
sub valgrind_reports {
    my ($self) = @_;
    my @bad;
    opendir my $d, $self->{dir} or return ();
    for my $f (sort grep { /^valgrind\.\d+\.log$/ } readdir $d) {
        my $c = $self->read_file($f);
        my @blocks = grep { /\S/ } split /^==\d+==\s*\n/m, $c;
        my @reports = grep {
            my ($first) = /^==\d+== (.*)$/m;
            defined $first && $first !~ /^Warning:/
                && $first !~ /^(?:HEAP|LEAK|ERROR) SUMMARY|^\s*(?:in use at exit|total heap usage|definitely lost: 0|indirectly lost|possibly lost|still reachable|suppressed|For lists of|Rerun with|To see them)/;
        } @blocks;
        push @reports, "ERROR SUMMARY with errors" if $c =~ /ERROR SUMMARY: [1-9]/;
        push @reports, "definitely lost bytes" if $c =~ /definitely lost: [1-9]/;
        push @bad, "$f:\n" . join('', @reports) if @reports;
    }
    closedir $d;
    return @bad;
}

# Stops nginx (QUIT, at most 10 s) and redis, checks the logs.
sub teardown {
    my ($self) = @_;
    return if $self->{torn_down}++;
    if ($self->{nginx_pid}) {
        pass('nginx exits promptly on QUIT') if $self->stop_nginx;
    }
    $self->stop_redis;
    $self->stop_esp;

    my @bad = $self->bad_log_lines;
    ok(!@bad, 'no alerts, emergencies, leaked sockets or crashes in error.log')
        or diag(join "\n", @bad[0 .. (@bad > 30 ? 29 : $#bad)]);

    # "make" copies the .so over the loaded one in place: running workers
    # then crash on code that changed under them
    my $mtime = (stat $MODULE)[9];
    if (@bad && $self->{started_at} && $mtime && $mtime > $self->{started_at}) {
        diag("NOTE: $MODULE was rebuilt while this test ran; "
             . "crashes may come from the rebuild: run the test again");
    }

    if ($VALGRIND) {
        my @vg = $self->valgrind_reports;
        ok(!@vg, 'valgrind: no errors and no definite leaks')
            or diag(join "\n", @vg);
    }
}

sub done {
    my ($self) = @_;
    $self->teardown;
    done_testing();
}

sub _kill_all {
    my ($self) = @_;
    return unless $self->{owner} == $$;
    if (my $pid = delete $self->{nginx_pid}) {
        kill 'KILL', -$pid;
        kill 'KILL', $pid;
        wait_pid($pid, 5);
    }
    if (my $pid = delete $self->{redis_pid}) {
        kill 'CONT', $pid;
        kill 'KILL', $pid;
        wait_pid($pid, 5);
    }
    if (my $pid = delete $self->{esp_pid}) {
        kill 'KILL', $pid;
        wait_pid($pid, 5);
    }
}

END {
    my $status = $?;
    for my $t (@INSTANCES) {
        next unless $t->{owner} == $$;
        # a test that died before done(): never leave processes behind
        $t->_kill_all;
    }
    $? = $status;
}

# ----------------------------------------------------------------- HTTP

# http_request(%o) with raw sockets.  Options: port, method (GET), path,
# host, ua (undef = default UA, '' = an empty header, 'NONE' = no header),
# cookies (hash ref or raw string), headers (array ref of [name, value]),
# body, timeout (10 s), raw (bytes sent as is).
# Returns a TriggerTest::Response (status 0 and error set on failure).
sub http_request {
    my (%o) = @_;
    my $t0 = time;
    my $req = $o{raw} // _build_request(%o);

    my $res = TriggerTest::Response->new;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $o{port}, Proto => 'tcp', Timeout => 5);
    unless ($s) {
        $res->{error} = "connect: $!";
        $res->{elapsed} = time - $t0;
        return $res;
    }
    binmode $s;
    $s->autoflush(1);
    local $SIG{PIPE} = 'IGNORE';
    print $s $req;

    my $buf = '';
    my $sel = IO::Select->new($s);
    my $deadline = time + ($o{timeout} // 10);
    while (1) {
        my $left = $deadline - time;
        if ($left <= 0) { $res->{error} = 'timeout'; last }
        next unless $sel->can_read($left);
        my $n = sysread($s, $buf, 65536, length $buf);
        next if !defined $n && $! == EINTR;
        last unless $n;
    }
    close $s;
    $res->{elapsed} = time - $t0;
    $res->parse($buf);
    return $res;
}

# http_get($port, $path, %o), http_post($port, $path, $body, %o):
# shorthands for http_request (a POST says Content-Type: application/json
# unless headers are given).
sub http_get {
    my ($port, $path, %o) = @_;
    return http_request(port => $port, path => $path, %o);
}

sub http_post {
    my ($port, $path, $body, %o) = @_;
    return http_request(port => $port, method => 'POST', path => $path,
        body => $body,
        headers => $o{headers} || [['Content-Type', 'application/json']],
        map { $_ => $o{$_} } grep { $_ ne 'headers' } keys %o);
}

# Sends all requests at once on separate connections and collects the
# responses (in order).  Each element is a hash ref of http_request
# options.  Bounded by a 20 s deadline.
sub http_parallel {
    my (@reqs) = @_;
    my (@socks, @bufs, %idx);
    local $SIG{PIPE} = 'IGNORE';
    my $sel = IO::Select->new;
    for my $i (0 .. $#reqs) {
        my %o = %{$reqs[$i]};
        my $req = _build_request(%o);
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $o{port}, Proto => 'tcp', Timeout => 5);
        $bufs[$i] = '';
        next unless $s;
        binmode $s;
        $s->autoflush(1);
        print $s $req;
        $socks[$i] = $s;
        $idx{fileno $s} = $i;
        $sel->add($s);
    }
    my $deadline = time + 20;
    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read(0.5)) {
            my $i = $idx{fileno $s};
            my $n = sysread($s, $bufs[$i], 65536, length $bufs[$i]);
            next if !defined $n && $! == EINTR;
            unless ($n) { $sel->remove($s); close $s }
        }
    }
    my @res;
    for my $i (0 .. $#reqs) {
        my $r = TriggerTest::Response->new;
        $r->parse($bufs[$i]);
        $r->{error} //= 'timeout' if $socks[$i] && $sel->exists($socks[$i]);
        $r->{error} //= 'connect failed' unless $socks[$i];
        push @res, $r;
    }
    return @res;
}

sub _build_request {
    my (%o) = @_;
    my $method = $o{method} // 'GET';
    my $req = "$method " . ($o{path} // '/') . " HTTP/1.1\r\n"
            . "Host: " . ($o{host} // 'localhost') . "\r\n"
            . "Connection: close\r\n";
    my $ua = $o{ua} // $DEFAULT_UA;
    $req .= "User-Agent: $ua\r\n" unless $ua eq 'NONE';
    if (my $c = $o{cookies}) {
        my $s = ref $c ? join('; ', map { "$_=$c->{$_}" } sort keys %$c) : $c;
        $req .= "Cookie: $s\r\n" if length $s;
    }
    $req .= "$_->[0]: $_->[1]\r\n" for @{ $o{headers} || [] };
    $req .= "Content-Length: " . length($o{body}) . "\r\n" if defined $o{body};
    return $req . "\r\n" . ($o{body} // '');
}

# $t->get($path, %o) / $t->post($path, $body, %o): on the main port
sub get {
    my ($self, $path, %o) = @_;
    return http_request(port => $self->{ports}{PORT}, path => $path, %o);
}

sub post {
    my ($self, $path, $body, %o) = @_;
    return http_request(port => $self->{ports}{PORT}, method => 'POST',
        path => $path, body => $body,
        headers => [['Content-Type', 'application/json'],
                    @{ $o{headers} || [] }],
        map { $_ => $o{$_} } grep { $_ ne 'headers' } keys %o);
}

# A visitor with its own cookie jar (see TriggerTest::Visitor).
sub visitor {
    my ($self, %o) = @_;
    return TriggerTest::Visitor->new($self, %o);
}

# Forks a child that sends GET $path in a loop (one request at a time,
# at most $o{max} requests, at most $o{seconds}), with $o{cookies}, and
# records each status (and the value of response header $o{header}).
# $bg->count: requests so far; $bg->finish stops it and returns a hash:
# { total, failed, failures => [lines], values => [header values] }.
sub background_load {
    my ($self, $path, %o) = @_;
    my $file = "$self->{dir}/bg." . (++$self->{bg_count});
    my $port = $self->{ports}{PORT};
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $stop = 0;
        $SIG{TERM} = sub { $stop = 1 };
        open my $fh, '>', $file or _exit(1);
        $fh->autoflush(1);
        my $deadline = time + ($o{seconds} // 30);
        my $n = 0;
        while (!$stop && time < $deadline && $n++ < ($o{max} // 5000)) {
            my $r = http_request(port => $port, path => $path, timeout => 10,
                                 cookies => $o{cookies});
            my $h = $o{header} ? $r->header($o{header}) // '' : '';
            $h =~ s/\s+/_/g;
            print $fh join(' ', $r->status || 0, $h, $r->error // ''), "\n";
        }
        close $fh;
        _exit(0);
    }
    return TriggerTest::Background->new($pid, $file);
}

# =====================================================================

package TriggerTest::Background;

sub new {
    my ($class, $pid, $file) = @_;
    return bless { pid => $pid, file => $file }, $class;
}

sub count {
    my ($self) = @_;
    open my $fh, '<', $self->{file} or return 0;
    my @l = <$fh>;
    return scalar @l;
}

sub finish {
    my ($self) = @_;
    kill 'TERM', $self->{pid};
    TriggerTest::wait_pid($self->{pid}, 15) or do {
        kill 'KILL', $self->{pid};
        TriggerTest::wait_pid($self->{pid}, 5);
    };
    my %res = (total => 0, failed => 0, failures => [], values => []);
    open my $fh, '<', $self->{file} or return \%res;
    while (my $l = <$fh>) {
        chomp $l;
        my ($status, $value) = split / /, $l;
        $res{total}++;
        push @{$res{values}}, $value // '';
        next if $status eq '200';
        $res{failed}++;
        push @{$res{failures}}, $l;
    }
    return \%res;
}

# =====================================================================

package TriggerTest::Response;

sub new { bless { status => 0, headers => [], body => '' }, shift }

sub parse {
    my ($self, $buf) = @_;
    $self->{raw} = $buf;
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    $head //= '';
    my @lines = split /\r\n/, $head;
    my $status_line = shift(@lines) // '';
    if ($status_line =~ m{^HTTP/\d\.\d (\d{3})}) {
        $self->{status} = $1;
    } else {
        $self->{error} //= 'no response';
    }
    for (@lines) {
        my ($n, $v) = /^([^:]+):\s*(.*)$/ or next;
        push @{$self->{headers}}, [$n, $v];
    }
    $body //= '';
    if (lc($self->header('Transfer-Encoding') // '') eq 'chunked') {
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $out .= substr($body, 0, $len, '');
            $body =~ s/^\r\n//;
        }
        $body = $out;
    }
    $self->{body} = $body;
    return $self;
}

sub status { $_[0]{status} }
sub body { $_[0]{body} }
sub elapsed { $_[0]{elapsed} }
sub error { $_[0]{error} }
sub raw { $_[0]{raw} }

# all values of a header (case-insensitive name)
sub headers {
    my ($self, $name) = @_;
    return map { $_->[1] } grep { lc $_->[0] eq lc $name } @{$self->{headers}};
}

# first value, or undef
sub header {
    my ($self, $name) = @_;
    my @v = $self->headers($name);
    return $v[0];
}

sub header_names { map { $_->[0] } @{$_[0]{headers}} }

# Set-Cookie headers parsed: list of { name, value, attrs => {lc k => v} }
sub set_cookies {
    my ($self) = @_;
    my @c;
    for my $sc ($self->headers('Set-Cookie')) {
        my ($nv, @attrs) = split /;\s*/, $sc;
        my ($n, $v) = split /=/, $nv, 2;
        my %a;
        for (@attrs) {
            my ($k, $val) = split /=/, $_, 2;
            $a{lc $k} = $val // 1;
        }
        push @c, { name => $n, value => $v, attrs => \%a, raw => $sc };
    }
    return @c;
}

# the parsed Set-Cookie for one cookie name (undef when not set)
sub set_cookie {
    my ($self, $name) = @_;
    my @c = grep { $_->{name} eq $name } $self->set_cookies;
    return $c[0];
}

sub json { TriggerTest::json_decode($_[0]{body}) }

# =====================================================================

package TriggerTest::Visitor;

# A browser-like client: keeps cookies from Set-Cookie across requests.
#   my $v = $t->visitor(ua => ..., cookie_name => 'trg_vid',
#                       cookies => { consent => 'yes' }, port => ...);
#   $v->get('/p'); $v->post('/events', $json); $v->vid; $v->hash;

sub new {
    my ($class, $t, %o) = @_;
    return bless {
        t           => $t,
        ua          => $o{ua},
        port        => $o{port} // $t->port,
        cookie_name => $o{cookie_name} // 'trg_vid',
        jar         => { %{ $o{cookies} || {} } },
        last        => undef,
    }, $class;
}

sub jar { $_[0]{jar} }

sub request {
    my ($self, %o) = @_;
    my $res = TriggerTest::http_request(port => $self->{port},
        ua => $self->{ua}, cookies => { %{$self->{jar}} }, %o);
    for my $c ($res->set_cookies) {
        my $ma = $c->{attrs}{'max-age'};
        if (defined $ma && $ma <= 0) {
            delete $self->{jar}{$c->{name}};
        } else {
            $self->{jar}{$c->{name}} = $c->{value};
        }
    }
    $self->{last} = $res;
    return $res;
}

sub get {
    my ($self, $path, %o) = @_;
    return $self->request(path => $path, %o);
}

sub post {
    my ($self, $path, $body, %o) = @_;
    return $self->request(method => 'POST', path => $path, body => $body,
        headers => [['Content-Type', 'application/json'],
                    @{ $o{headers} || [] }],
        map { $_ => $o{$_} } grep { $_ ne 'headers' } keys %o);
}

sub cookie {
    my ($self, $name) = @_;
    return $self->{jar}{ $name // $self->{cookie_name} };
}

sub set_cookie_value {
    my ($self, $name, $value) = @_;
    if (defined $value) { $self->{jar}{$name} = $value }
    else { delete $self->{jar}{$name} }
}

# the visitor id: the cookie value before the '.'
sub vid {
    my ($self) = @_;
    my $c = $self->cookie // return undef;
    return (split /\./, $c, 2)[0];
}

sub key { my ($self) = @_; $self->{t}->visitor_key($self->vid) }

# a purchase event signed for this visitor with %%PURCHASE_KEY%%, as the
# shop's server would sign it: amount in cents
sub signed_purchase {
    my ($self, %o) = @_;
    my $promo = $o{promo} // '';
    my $sig = Digest::SHA::hmac_sha256_hex(
        join("\n", $self->vid, $o{order}, $o{cents}, $promo),
        $TriggerTest::PURCHASE_KEY);
    return { type => 'purchase', order => $o{order},
             amount => $o{amount} // sprintf('%.2f', $o{cents} / 100),
             ($promo ne '' ? (promo => $promo) : ()), sig => $sig };
}

sub hash {
    my ($self) = @_;
    my $vid = $self->vid // return {};
    return $self->{t}->visitor_hash($vid);
}

sub orders {
    my ($self) = @_;
    my $vid = $self->vid // return {};
    return $self->{t}->visitor_orders($vid);
}

# { sku => qty } from the c:<SKU> fields
sub cart {
    my ($self) = @_;
    my $h = $self->hash;
    return { map { substr($_, 2) => $h->{$_} } grep { /^c:/ } keys %$h };
}

1;
