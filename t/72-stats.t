#!/usr/bin/perl
# Funnel counters: a worker adds them up and sends them once a second,
# in one call; what it has counted when it exits is sent on the way out.

use strict;
use warnings;
use lib 't/lib';
use TriggerTest;
use Test::More;

my $t = TriggerTest->new;
$t->start_redis;
$t->write_file('html/index.html', "<html><body>shop</body></html>\n");

$t->start_nginx(http => <<'EOF2');
    %%TRIGGER_BASE%%

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        trigger on;
        location /_trigger/ { trigger_api; }
    }
EOF2

sub stats {
    my @t = gmtime;
    my $day = sprintf '%04d%02d%02d', $t[5] + 1900, $t[4] + 1, $t[3];
    return { @{ $t->redis->hgetall($t->key_prefix . "stats:$day") } };
}

my $v = $t->visitor;
$v->get('/index.html');


for (1 .. 5) {
    is $v->post('/_trigger/events', '{"type":"offer_shown"}')->status, 200,
        'offer_shown reported';
}
is $v->post('/_trigger/events',
    '{"events":[{"type":"offer_closed"},{"type":"offer_closed"}]}')->status,
    200, 'two offer_closed in one request';

ok wait_until(sub { (stats()->{offer_shown} // 0) == 5 }),
    'five shows counted within a second or so';
is stats()->{offer_closed}, 2, 'closes counted in the same batch';
ok $t->redis->ttl($t->key_prefix . 'stats:' . do {
    my @t = gmtime; sprintf '%04d%02d%02d', $t[5] + 1900, $t[4] + 1, $t[3]
}) > 300 * 86400, 'counters are kept for 400 days';

# counted, then the worker exits before its timer: sent on the way out
$v->post('/_trigger/events', '{"type":"offer_shown"}');
$t->stop_nginx;
ok wait_until(sub { (stats()->{offer_shown} // 0) == 6 }),
    'counters are sent when the worker exits';

$t->done;
