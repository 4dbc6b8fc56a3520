# The Redis connection's faults: a Redis that accepts but is still loading
# its data, one that accepts and never answers, one that fails a setup
# command and goes silent, a restart and a freeze.  A connection is ready
# only once Redis answered its setup commands; until then the backoff
# keeps growing, requests are not held, and the log gets at most a line a
# second per worker.  The bounds below are counts, not timings.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(_exit);
use TriggerTest;

my $t = TriggerTest->new->require_module;
$t->write_file('html/index.html', "<html>index</html>\n");

my $VG = $t->valgrind ? 5 : 1;
my $DEADLINE = $t->valgrind ? 300 : 50;

# reuseport: each worker has its own listening socket, so requests from
# successive client ports reach both workers
my $conf = <<'EOF' =~ s/%%DEADLINE%%/$DEADLINE/r;
    trigger_redis 127.0.0.1:%%REDIS_PORT%%;
    trigger_secret %%SECRET%%;

    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        root %%HTML%%;
        trigger on;
        trigger_redis_timeout %%DEADLINE%%ms;
        add_header X-TS $trigger_status always;
        add_header X-Pid $pid always;
    }
EOF

# ------------------------------------------------------ a fake Redis

my @FAKES;
END { kill 'KILL', $_ for @FAKES }

# A TCP server on the Redis port that answers every command of a
# connection according to $mode: "loading" (-LOADING to everything),
# "silent" (nothing), "error" (-ERR to the first command, then nothing).
# It writes one "connect" line per accepted connection to its log.
sub fake_redis {
    my ($mode) = @_;
    my $log = $t->dir . "/fake-$mode.log";
    unlink $log;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $t->redis_port, Proto => 'tcp', Listen => 128,
        ReuseAddr => 1) or die "fake redis: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        # the module may close a connection before reading every answer
        $SIG{PIPE} = 'IGNORE';
        open my $fh, '>>', $log or _exit(1);
        $fh->autoflush(1);
        my $sel = IO::Select->new($l);
        my (%buf, %answered);
        while (1) {
            for my $s ($sel->can_read(1)) {
                if ($s == $l) {
                    my $c = $l->accept or next;
                    $sel->add($c);
                    $buf{$c} = '';
                    $answered{$c} = 0;
                    print $fh "connect\n";
                    next;
                }
                my $n = sysread($s, $buf{$s}, 65536, length $buf{$s});
                unless ($n) {
                    $sel->remove($s);
                    delete $buf{$s};
                    close $s;
                    next;
                }
                while (defined(my $cmd = take_command(\$buf{$s}))) {
                    print $fh "command $cmd\n";
                    if ($mode eq 'loading') {
                        syswrite $s, "-LOADING Redis is loading the dataset"
                                   . " in memory\r\n";
                    } elsif ($mode eq 'error' && !$answered{$s}++) {
                        syswrite $s, "-ERR unknown command\r\n";
                    }
                }
            }
        }
    }
    close $l;
    push @FAKES, $pid;
    return { pid => $pid, log => $log };
}

# one RESP command (an array of bulk strings) off the front of $$buf
sub take_command {
    my ($buf) = @_;
    $$buf =~ /\A\*(\d+)\r\n/ or return undef;
    my ($argc, $pos) = ($1, $+[0]);
    my @argv;
    for (1 .. $argc) {
        substr($$buf, $pos) =~ /\A\$(\d+)\r\n/ or return undef;
        my $len = $1;
        $pos += $+[0];
        return undef if length($$buf) < $pos + $len + 2;
        push @argv, substr($$buf, $pos, $len);
        $pos += $len + 2;
    }
    substr($$buf, 0, $pos) = '';
    return uc $argv[0];
}

sub fake_connects {
    my ($fake) = @_;
    return scalar grep { /^connect$/ } split /\n/, $t->read_file($fake->{log});
}

sub stop_fake {
    my ($fake) = @_;
    kill 'KILL', $fake->{pid};
    waitpid $fake->{pid}, 0;
    @FAKES = grep { $_ != $fake->{pid} } @FAKES;
}

# the module's own lines (not debug) in error.log past byte $from
sub redis_log_lines {
    my ($from) = @_;
    my $log = substr($t->error_log, $from);
    return grep { /\[(?:info|notice|warn|error|crit|alert)\].*trigger: redis/ }
           split /\n/, $log;
}

sub log_size { length $t->error_log }

sub status { $_[0]->header('X-TS') // '' }

# every worker tracks again (both pids seen answering "tracked")
sub all_track {
    my ($v) = @_;
    my %seen;
    return wait_until(sub {
        my $r = $v->get('/index.html');
        return 0 unless status($r) eq 'tracked';
        $seen{$r->header('X-Pid')} = 1;
        return keys %seen >= 2;
    }, timeout => 15 * $VG, interval => 0.05);
}

# ----------------------------- Redis loading its data: backoff, few lines

my $fake = fake_redis('loading');
$t->start_nginx(http => $conf, workers => 2);
my $v = $t->visitor;

my $from = log_size();
my $WINDOW = 5;
sleep $WINDOW;
my $connects = fake_connects($fake);
my @lines = redis_log_lines($from);
# the backoff doubles from 50 ms to 1 s (each wait down to half of it):
# at most 14 attempts per worker in 5 s; reset on every TCP connect, it
# made about 50
ok($connects <= 2 * 15, "LOADING: the backoff grows ($connects connections "
                        . "in $WINDOW s, 2 workers)");
ok(@lines <= 2 * ($WINDOW + 2),
   scalar(@lines) . " log lines in $WINDOW s, 2 workers: once a second")
    or diag(join "\n", @lines[0 .. (@lines > 10 ? 9 : $#lines)]);
ok(grep({ /SCRIPT LOAD failed: LOADING/ } @lines), 'LOADING: logged');

my $r = $v->get('/index.html');
is(status($r), 'unavailable', 'LOADING: the connection is not ready');
stop_fake($fake);

# --------------------------- Redis accepts and never answers (setup phase)

$fake = fake_redis('silent');
$from = log_size();
# the setup commands get no answer within the connect timeout: the
# connection is dropped and made again (every worker connects once, then
# again)
ok(wait_until(sub { fake_connects($fake) >= 6 }, timeout => 15 * $VG,
              interval => 0.1),
   'silent: connections without a setup reply are dropped and made again')
    or diag(fake_connects($fake) . ' connections');
ok(grep({ /no reply to the setup commands/ } redis_log_lines($from)),
   'silent: logged');

my %status;
$status{status($v->get('/index.html'))}++ for 1 .. 10;
is_deeply(\%status, { unavailable => 10 },
          'silent: requests are not sent to a connection never set up')
    or diag(explain \%status);
stop_fake($fake);

# ----------------- a setup command fails, then the server goes silent

$fake = fake_redis('error');
ok(wait_until(sub { fake_connects($fake) >= 4 }, timeout => 15 * $VG,
              interval => 0.1),
   'setup error then silence: the worker connects again')
    or diag(fake_connects($fake) . ' connections');
stop_fake($fake);

# ------------------------------------------------- the real Redis comes

$t->start_redis;
ok(all_track($v), 'Redis there: every worker tracks');

# ------------------------------------------------------ Redis restarted

$t->stop_redis;
ok(wait_until(sub { status($v->get('/index.html')) eq 'unavailable' },
              timeout => 5 * $VG),
   'Redis stopped: unavailable');
$from = log_size();
sleep 3;
@lines = redis_log_lines($from);
ok(@lines <= 2 * (3 + 2),
   scalar(@lines) . ' log lines in a 3 s outage, 2 workers')
    or diag(join "\n", @lines);
$t->start_redis;
ok(all_track($v), 'Redis restarted: every worker tracks again');

# ----------------------------------------------- Redis frozen (SIGSTOP)

$t->pause_redis;
$from = log_size();
$r = $v->get('/index.html');
is(status($r), 'timeout', 'frozen: the request waits for its deadline');
# no more requests: the stall is noticed by a timer, not by the next send
ok(wait_until(sub { grep { /no reply for \d+ ms/ } redis_log_lines($from) },
              timeout => 10 * $VG, interval => 0.1),
   'frozen: the stalled connection is dropped without a new command');

# once a worker dropped its stalled connection, it does not take a new
# one for ready while Redis is frozen (the kernel still accepts it)
my %down;
ok(wait_until(sub {
    my $r = $v->get('/index.html');
    $down{$r->header('X-Pid')} = 1 if status($r) eq 'unavailable';
    return keys %down >= 2;
}, timeout => 15 * $VG, interval => 0.05), 'frozen: every worker dropped it');
%status = ();
$status{status($v->get('/index.html'))}++ for 1 .. 20;
is_deeply(\%status, { unavailable => 20 },
          'frozen: no request waits on a connection not set up')
    or diag(explain \%status);

$t->resume_redis;
ok(all_track($v), 'thawed: every worker tracks again');

# ------------------------- reload and QUIT while connections are made

$t->stop_redis;
$fake = fake_redis('silent');
ok(wait_until(sub { fake_connects($fake) >= 2 }, timeout => 10 * $VG),
   'silent again: workers connecting');
ok($t->reload, 'reload while connecting: old workers exit');
ok($t->stop_nginx, 'QUIT while connecting: nginx exits');
stop_fake($fake);

$t->done;
