# Promo codes cannot be minted in bulk: fresh cookies from one address
# hit the per-address limit, many addresses the shop-wide one (each hit
# logged and counted); a code only for a visitor who may have the offer
# now; a subscription that timed out is not lost, and its retry gets the
# same code.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TriggerTest;

my $t = TriggerTest->new->require_module;
$t->start_redis;
$t->write_file('html/index.html', "<html><body>shop</body></html>\n");

$t->start_nginx(http => <<'EOF');
    trigger_redis 127.0.0.1:%%REDIS_PORT%%;
    trigger_secret %%SECRET%%;
    trigger_redis_timeout 300ms;
    trigger_subscribe_limit_ip 2 1h;
    trigger_subscribe_limit_shop 3 1h;

    # the shop sits behind a proxy that says who the client is
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        trigger on;
        trigger_offer on;
        trigger_offer_min_depth 1;
        trigger_offer_min_duration 0;
        trigger_offer_require_items off;

        location = /buy {
            trigger_purchase $arg_order 10;
            try_files /index.html =404;
        }
        location /_trigger/ {
            trigger_api;
        }
    }
EOF

sub offer_token {
    my ($v, %o) = @_;
    my $r = $v->get('/index.html', %o);
    my ($json) = $r->body =~ m{id="trg-offer">(.*?)</script>}s or return;
    return json_decode($json)->{token};
}

sub subscribe {
    my ($v, $token, $email, %o) = @_;
    return $v->post('/_trigger/subscribe',
                    json_encode({ token => $token, email => $email }), %o);
}

sub stats {
    my @t = gmtime;
    my $day = sprintf '%04d%02d%02d', $t[5] + 1900, $t[4] + 1, $t[3];
    return { @{ $t->redis->hgetall($t->key_prefix . "stats:$day") } };
}

# one address, fresh cookies each time
my @from_a = (headers => [['X-Forwarded-For', '192.0.2.1']]);
my @st;
for my $i (1 .. 3) {
    my $v = $t->visitor;
    my $token = offer_token($v, @from_a) or BAIL_OUT('no offer');
    push @st, subscribe($v, $token, "a$i\@example.com", @from_a)->status;
}
is_deeply(\@st, [200, 200, 429], 'one address: 2 codes, then 429');
ok($t->grep_log(qr/limit per address reached/), 'logged');
is(stats()->{code_limited}, 1, 'counted');

# other addresses share the shop's limit
my @from_b = (headers => [['X-Forwarded-For', '198.51.100.7']]);
@st = ();
for my $i (1 .. 2) {
    my $v = $t->visitor;
    my $token = offer_token($v, @from_b);
    push @st, subscribe($v, $token, "b$i\@example.com", @from_b)->status;
}
is_deeply(\@st, [200, 429], 'the shop: 3 codes an hour, then 429');
ok($t->grep_log(qr/limit per shop reached/), 'logged');
is(stats()->{code_limited}, 2, 'counted');
is(stats()->{offer_subscribed}, 3, 'three codes issued');
is(scalar(() = $t->redis->keys($t->key_prefix . 'code:*')), 3,
   'three codes stored');

$t->redis->flushdb;

# no code after a purchase or a decline, even with a token from before
my $buyer = $t->visitor;
my $token = offer_token($buyer);
$buyer->get('/buy?order=O1');
my $r = subscribe($buyer, $token, 'buyer@example.com');
is($r->status, 403, 'after a purchase: 403');
is($r->json && $r->json->{error}, 'offer not available', 'says why');

my $decliner = $t->visitor;
$token = offer_token($decliner);
is($decliner->post('/_trigger/decline', json_encode({ token => $token }))
   ->status, 200, 'declined');
is(subscribe($decliner, $token, 'd@example.com')->status, 403,
   'after a decline: 403');
is(scalar(() = $t->redis->keys($t->key_prefix . 'code:*')), 0,
   'no code stored');

# a subscription whose answer timed out: stored once, counted, and the
# widget's retry gets the very same code
my $v = $t->visitor;
$token = offer_token($v);
$t->pause_redis;
$r = subscribe($v, $token, 'slow@example.com');
$t->resume_redis;
is($r->status, 503, 'Redis frozen: 503');
ok(wait_until(sub { stats()->{offer_subscribed} }),
   'the subscription still counted once Redis answers');
$r = subscribe($v, $token, 'slow@example.com');
is($r->status, 200, 'the retry: 200');
my %code = @{ $t->redis->hgetall($t->key_prefix . 'code:' . $r->json->{code}) };
is($code{email}, 'slow@example.com', 'the code stored for the first try');
is(scalar(() = $t->redis->keys($t->key_prefix . 'code:*')), 1,
   'one code, not two');
is(stats()->{offer_subscribed}, 1, 'counted once');

$t->allow_log(qr/redis did not answer/);
$t->done;
