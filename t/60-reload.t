# Reloads (HUP) under load: every request succeeds and is tracked, old
# workers exit (their Redis timers and connection do not keep them
# alive), a changed configuration takes effect, a bad one is refused
# while the old one keeps serving; QUIT finishes promptly.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use TriggerTest;

my $t = TriggerTest->new->require_module;
$t->start_redis;
$t->write_file('html/index.html', "<html>index</html>\n");

my $template = <<'EOF';
    %%TRIGGER_BASE%%
    trigger_key_prefix "%%PREFIX%%";

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        trigger on;
        add_header X-TS $trigger_status always;
        add_header X-Depth $trigger_depth always;
        location /trigger/ { trigger_api; }
    }
EOF

sub conf {
    my ($prefix) = @_;
    return $template =~ s/%%PREFIX%%/$prefix/r;
}

$t->start_nginx(http => conf('trg:'), workers => 2);

my $v = $t->visitor;
is(status_seen($v->get('/index.html')->header('X-TS')), 'tracked', 'tracked before any reload');

# ----------------------------------------------------- HUP under load

my $bg = $t->background_load('/index.html', cookies => { trg_vid => $v->cookie },
                             header => 'X-TS', seconds => 30);
ok(wait_until(sub { $bg->count >= 5 }), 'load running');

for my $i (1 .. 3) {
    ok($t->reload, "HUP $i: new workers up, old workers gone");
    my $n = $bg->count;
    ok(wait_until(sub { $bg->count >= $n + 5 }), "HUP $i: requests keep flowing");
}

my $res = $bg->finish;
ok($res->{total} > 20, "background requests: $res->{total}");
is($res->{failed}, 0, 'every request during the reloads succeeded')
    or diag(join "\n", @{$res->{failures}}[0 .. 9]);
my @untracked = grep { status_seen($_) ne 'tracked' } @{$res->{values}};
is(scalar @untracked, 0, 'every request during the reloads was tracked')
    or diag(explain { map { $_ => 1 } @untracked });
is($v->hash->{d}, $res->{total} + 1,
   'depth = every request: none lost, none counted twice');

# the new workers have their own Redis connections
my @res = TriggerTest::http_parallel(map { { port => $t->port,
    path => '/index.html', cookies => { trg_vid => $v->cookie } } } 1 .. 10);
is(scalar(grep { status_seen($_->header('X-TS')) eq 'tracked' } @res), 10,
   'after the reloads: both new workers track');

# ------------------------------------------- a changed configuration

ok($t->reload(http => conf('new:'), workers => 2), 'HUP with a new key prefix');
$t->key_prefix('new:');
my $r = $v->get('/index.html');
is(status_seen($r->header('X-TS')), 'tracked', 'tracked after the change');
is($r->header('X-Depth'), 1, 'new prefix: a fresh hash');
is($v->hash->{d}, 1, 'stored under the new prefix');

# one worker fewer, one more
ok($t->reload(http => conf('new:'), workers => 1), 'HUP to 1 worker');
ok($t->reload(http => conf('new:'), workers => 3), 'HUP to 3 workers');
@res = TriggerTest::http_parallel(map { { port => $t->port,
    path => '/index.html', cookies => { trg_vid => $v->cookie } } } 1 .. 10);
is(scalar(grep { status_seen($_->header('X-TS')) eq 'tracked' } @res), 10,
   '3 workers: all tracked');

# ------------------------------------------------- a bad configuration

my %before = map { $_ => 1 } $t->worker_pids;
$t->allow_log(qr/\[emerg\].*trigger_secret/);
$t->write_file('nginx.conf', $t->make_conf(workers => 3, http => <<'EOF'));
    trigger_redis 127.0.0.1:%%REDIS_PORT%%;
    trigger_secret too-short;
    server { listen 127.0.0.1:%%PORT%%; trigger on; }
EOF
kill 'HUP', $t->nginx_pid;
ok(wait_until(sub { $t->grep_log(qr/\[emerg\].*trigger_secret/) }),
   'bad configuration refused on HUP');
sleep 0.5;
my %after = map { $_ => 1 } $t->worker_pids;
is_deeply(\%after, \%before, 'the old workers keep running');
$r = $v->get('/index.html');
is(status_seen($r->header('X-TS')), 'tracked', 'still tracking with the old configuration');

# back to a good configuration
ok($t->reload(http => conf('new:'), workers => 2), 'HUP with a good configuration again');

# ------------------------------------- HUP with Redis frozen, and QUIT

$t->pause_redis;
$v->get('/index.html') for 1 .. 4;   # commands left waiting in Redis
ok($t->reload, 'HUP while Redis is frozen: old workers exit');
$t->resume_redis;
ok(wait_until(sub { status_seen($v->get('/index.html')->header('X-TS')) eq 'tracked' },
              timeout => 15, interval => 0.2),
   'tracking after Redis thawed');

# QUIT under load
$bg = $t->background_load('/index.html', cookies => { trg_vid => $v->cookie },
                          seconds => 10);
ok(wait_until(sub { $bg->count >= 5 }), 'load running before QUIT');
my $t0 = time;
ok($t->stop_nginx(timeout => $t->valgrind ? 60 : 5), 'QUIT under load: nginx exits within 5 s');
note(sprintf 'QUIT took %.2f s', time - $t0);
$bg->finish;

$t->done;
