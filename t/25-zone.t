#!/usr/bin/perl

# The visitors' zone (trigger_zone): page views counted in shared memory
# and written to Redis behind the requests, exactly, whatever happens to
# Redis, to a worker or to the configuration meanwhile; and how stale a
# decision may be between two nginx instances.

use strict;
use warnings;

use lib 't/lib';
use Test::More;
use TriggerTest;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);

my $t = TriggerTest->new->require_module;
# the journal must outlive a restart of Redis, not Redis's own data
$t->start_redis(args => ['--appendonly', 'yes', '--appendfsync', 'always']);
$t->write_file('html/index.html', "<html><body>page</body></html>\n");

my $conf = <<'EOF';
    trigger_redis 127.0.0.1:%%REDIS_PORT%%;
    trigger_secret %%SECRET%%;
    trigger_redis_timeout 300ms;
    trigger_zone visitors:%%ZONE%%;
    trigger_zone_valid 60s;
    trigger_zone_flush 20ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        location / {
            trigger on;
            add_header X-TS $trigger_status always;
            add_header X-Depth $trigger_depth always;
        }
    }
    server {
        listen 127.0.0.1:%%PORT2%%;
        location / { return 200 $trigger_zone_pending; }
    }
EOF

sub conf {
    my ($size) = @_;
    (my $c = $conf) =~ s/%%ZONE%%/$size/;
    return $c;
}

# waits until the journal is in Redis
sub synced {
    my ($tt) = @_;
    return wait_until(sub {
        http_get($tt->port(2), '/')->body eq '0'
    }, timeout => 10, interval => 0.01);
}

# visitors with a cookie each (one page view each)
sub visitors {
    my ($tt, $n) = @_;
    my @v;
    for (1 .. $n) {
        my $v = $tt->visitor;
        $v->get('/index.html');
        push @v, $v;
    }
    return @v;
}

# A child that asks for pages as the visitors, one after another, for
# $seconds, on the ports given in turn; it writes "vid status" a line.
sub load {
    my ($tt, $visitors, $seconds, @ports) = @_;
    my $file = $tt->dir . '/load.' . ++$tt->{load};
    my @cookies = map { [$_->vid, $_->cookie] } @$visitors;
    @ports = ($tt->port) unless @ports;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open my $fh, '>', $file or _exit(1);
        $fh->autoflush(1);
        my ($i, $end) = (0, time + $seconds);
        while (time < $end) {
            my $c = $cookies[$i % @cookies];
            my $r = http_request(port => $ports[$i % @ports],
                                 path => '/index.html', timeout => 10,
                                 cookies => { trg_vid => $c->[1] });
            print $fh "$c->[0] ", $r->status || 0, "\n";
            $i++;
        }
        _exit(0);
    }
    return { pid => $pid, file => $file };
}

# waits for the child; { vid => pages served }, and the failed requests
sub finish {
    my ($tt, $l) = @_;
    TriggerTest::wait_pid($l->{pid}, 60);
    my (%ok, $failed, $total);
    open my $fh, '<', $l->{file} or die;
    while (<$fh>) {
        my ($vid, $status) = split;
        $total++;
        if ($status == 200) { $ok{$vid}++ } else { $failed++ }
    }
    return (\%ok, $failed // 0, $total);
}

# every visitor's depth in Redis against the pages it was served
sub exact {
    my ($tt, $visitors, $ok, $name, $slack) = @_;
    my ($want, $got, $off) = (0, 0, 0);
    for my $v (@$visitors) {
        my $d = $t->visitor_hash($v->vid)->{d} // 0;
        my $w = 1 + ($ok->{$v->vid} // 0);
        $want += $w;
        $got += $d;
        $off++ if $d != $w && !$slack;
    }
    if ($slack) {
        ok($got >= $want && $got <= $want + $slack,
           "$name: $got page views in Redis, $want served, $slack failed");
    } else {
        is("$got/$off", "$want/0", "$name: every page view in Redis");
    }
    return $want;
}

# ------------------------------------------------------- many visitors

$t->start_nginx(workers => 2, http => conf('8m'));

my @v = visitors($t, 50);
my $l = load($t, \@v, 1.5);
my ($ok, $failed, $total) = finish($t, $l);
is($failed, 0, "$total page views served");
ok(synced($t), 'the journal is written');
exact($t, \@v, $ok, 'two workers');

# the page of a visitor in the zone is counted and decided there
my $r = $v[0]->get('/index.html');
is($r->header('X-TS'), 'zone', '$trigger_status: zone');
is($r->header('X-Depth'), 2 + ($ok->{$v[0]->vid} // 0),
   'the depth from the zone');
ok(synced($t), 'written');
$ok->{$v[0]->vid}++;

# the batch writes a page view's fields as the script would: a new
# visitor's hash and TTL, then the TTL refreshed when the cookie is back
my $nv = $t->visitor;
$nv->get('/index.html');
ok(synced($t), 'a new visitor written');
my $h = $t->visitor_hash($nv->vid);
is(join(',', sort keys %$h), 'd,g,l,n,s,w', "a new visitor's fields");
is("$h->{n} $h->{d} $h->{g} $h->{w}", '1 1 0 1', 'their values');
my $ttl = $t->redis->ttl($t->visitor_key($nv->vid));
ok($ttl > 0 && $ttl <= 3600, "a new visitor's TTL ($ttl)");
$nv->get('/index.html');
ok(synced($t), 'written');
$h = $t->visitor_hash($nv->vid);
is("$h->{d} $h->{w}", '2 2', 'the second page view');
ok($h->{t}, 'the TTL refreshed');
ok($t->redis->ttl($t->visitor_key($nv->vid)) > 3600, 'the TTL of a visitor');

# ------------------------------------------------ Redis away mid-load

my @w = visitors($t, 30);
$l = load($t, \@w, 2.5);
sleep 0.5;
$t->stop_redis;
sleep 0.7;
$t->start_redis;
sleep 0.3;
$t->pause_redis;
sleep 2.5;
$t->resume_redis;
($ok, $failed, $total) = finish($t, $l);
is($failed, 0, "Redis restarted and frozen: $total pages served all the same");
ok(synced($t), 'the journal is written once Redis is back');
exact($t, \@w, $ok, 'Redis restarted and frozen');
$t->allow_log(qr/redis|trigger/);

# ------------------------------------------------- a worker killed

my @x = visitors($t, 30);
$l = load($t, \@x, 2);
sleep 0.7;
my @pids = $t->worker_pids;
kill 'KILL', $pids[0];
($ok, $failed, $total) = finish($t, $l);
ok(synced($t), 'the journal is written after a worker was killed');
# a request on the killed worker may have been counted, not answered
exact($t, \@x, $ok, 'kill -9 of a worker', $failed + 1);
$t->allow_log(qr/exited on signal 9/);

# ------------------------------------------------------ reload

my @y = visitors($t, 30);
$l = load($t, \@y, 2);
sleep 0.5;
ok($t->reload, 'reloaded under load');
($ok, $failed, $total) = finish($t, $l);
is($failed, 0, "a reload under load: $total pages served");
ok(synced($t), 'written');
exact($t, \@y, $ok, 'reload under load');

# ------------------------------------------------ a zone too small

ok($t->reload(workers => 2, http => conf('256k')), 'a zone too small');
# a zone of another size is another zone: the old one's journal is written
my @z = visitors($t, 1500);
$l = load($t, \@z, 3);
($ok, $failed, $total) = finish($t, $l);
is($failed, 0, "$total pages for 1500 visitors");
ok(synced($t), 'written');
exact($t, \@z, $ok, 'visitors evicted');
# the load went round the visitors: the least recently seen come next
my $first = $total % 1500 > 1400 ? 1400 : $total % 1500;
my $tracked = grep {
    ($_->get('/index.html')->header('X-TS') // '') eq 'tracked'
} @z[$first .. $first + 99];
ok($tracked > 0, "evicted visitors read from Redis again ($tracked of 100)");

# a graceful stop writes the journal first
my @s = visitors($t, 20);
$l = load($t, \@s, 1);
($ok, $failed, $total) = finish($t, $l);
ok($t->stop_nginx, 'stopped right after the load');
exact($t, \@s, $ok, 'a graceful stop');


# --------------------------------------- two nginx instances, one Redis

my $t2 = TriggerTest->new;
$t2->write_file('html/index.html', "<html><body>page</body></html>\n");

# both on $t's Redis; a purchase's page
sub conf2 {
    my ($valid) = @_;
    my $c = conf('8m');
    my $port = $t->redis_port;
    $c =~ s/%%REDIS_PORT%%/$port/;
    $c =~ s/trigger_zone_valid 60s/trigger_zone_valid $valid/;
    $c =~ s{(add_header X-Depth \$trigger_depth always;)}
           {$1\n            add_header X-P \$trigger_purchases always;};
    $c =~ s{(        location / \{)}{        location /buy {
            trigger on;
            trigger_purchase \$arg_order \$arg_amount;
            add_header X-P \$trigger_purchases always;
        }
$1};
    return $c;
}

$_->start_nginx(workers => 2, http => conf2('1s')) for $t, $t2;

my @u = visitors($t, 40);
$l = load($t, \@u, 2, $t->port, $t2->port);
($ok, $failed, $total) = finish($t, $l);
is($failed, 0, "two instances: $total pages");
ok(synced($t) && synced($t2), 'both written');
exact($t, \@u, $ok, 'two instances');

# the same visitors' pages on one instance then the other: each counts
# on an entry that misses the other's page views, and its batch, finding
# the visitor's hash written by the other, applies its records instead
my @m = visitors($t, 10);
for (1 .. 4) {
    $_->get('/index.html') for @m;
    $t2->visitor(cookies => { trg_vid => $_->cookie })->get('/index.html')
        for @m;
}
ok(synced($t) && synced($t2), 'both written');
exact($t, \@m, { map { $_->vid => 8 } @m }, 'interleaved on two instances');

# a purchase (a script call of its own) between page views in the journal
my $c = $t->visitor;
$c->get('/index.html') for 1 .. 3;
is($c->get('/buy?order=o9&amount=100')->header('X-P'), 1, 'a purchase');
$c->get('/index.html') for 1 .. 2;
ok(synced($t), 'written');
$h = $t->visitor_hash($c->vid);
# (the purchase's page, a 404 here, is not a page view)
is("$h->{d} $h->{p}", '5 1', 'page views and the purchase, once each');

# a purchase on one is seen by the other within trigger_zone_valid
my $a = $t->visitor;
$a->get('/index.html');
my $b = $t2->visitor(cookies => { trg_vid => $a->cookie });
is($b->get('/index.html')->header('X-P'), 0, 'no purchase yet');
is($a->get('/buy?order=o1&amount=100')->header('X-P'), 1, 'bought on one');
ok(wait_until(sub { ($b->get('/index.html')->header('X-P') // '') eq '1' },
              timeout => 5),
   'seen on the other within trigger_zone_valid');

# ... and at once with trigger_zone_valid 0
ok($_->reload(workers => 2, http => conf2('0')), 'trigger_zone_valid 0')
    for $t, $t2;
is($b->get('/index.html')->header('X-P'), 1, 'bought before');
is($a->get('/buy?order=o2&amount=100')->header('X-P'), 2, 'bought again');
is($b->get('/index.html')->header('X-P'), 2, 'seen on the other at once');
is($b->get('/index.html')->header('X-TS'), 'tracked',
   'every page asks Redis');

$t2->stop_nginx;
$t->done;
