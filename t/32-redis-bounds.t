# Redis cannot be filled from outside: a client that never returns the
# cookie costs a short-lived key (trigger_new_visitor_ttl), a visitor
# who comes back gets the full trigger_ttl, and every per-visitor
# structure is bounded (viewed, cart, orders).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TriggerTest;

my $t = TriggerTest->new->require_module;
$t->start_redis;
$t->write_file('html/index.html', "<html>index</html>\n");

$t->start_nginx(http => <<'EOF');
    %%TRIGGER_BASE%%
    trigger_ttl 30d;
    trigger_new_visitor_ttl 10m;
    trigger_viewed_max 5;
    trigger_cart_max 5;

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        trigger on;

        location = /p {
            trigger_view $arg_sku;
            trigger_cart_add $arg_sku;
            try_files /index.html =404;
        }
        location = /buy {
            trigger_purchase $arg_order 1;
            try_files /index.html =404;
        }
        location = /up {
            proxy_pass http://127.0.0.1:%%PORT2%%;
        }
    }
    server {
        listen 127.0.0.1:%%PORT2%%;
        location = /up {
            add_header X-Trigger-View "UP-1";
            return 200 "up\n";
        }
    }
EOF

# clients without cookies: each costs one key for ten minutes
for (1 .. 10) {
    http_get($t->port, '/index.html');
}
my @keys = $t->visitor_keys;
is(scalar @keys, 10, 'ten cookieless requests, ten keys');
ok(!grep({ my $ttl = $t->redis->ttl($_); $ttl <= 0 || $ttl > 600 } @keys),
   'each lives at most trigger_new_visitor_ttl');

# ... also when an upstream's event header comes with the first page
my $v = $t->visitor;
$v->get('/up');
ok(wait_until(sub { ($v->hash->{v1} // '') eq 'UP-1' }), 'header event');
my $ttl = $t->redis->ttl($v->key);
ok($ttl > 0 && $ttl <= 600, "first page with a header event: short ($ttl)");

# the cookie comes back: the full ttl
$v->get('/index.html');
$ttl = $t->redis->ttl($v->key);
ok($ttl > 600 && $ttl <= 30 * 86400, "a returning visitor: trigger_ttl ($ttl)");

# per-visitor structures are bounded
$v->get("/p?sku=S$_") for 1 .. 12;
my $h = $v->hash;
is(scalar(grep { /^v\d+$/ } keys %$h), 5, 'viewed: trigger_viewed_max');
is(scalar(grep { /^c:/ } keys %$h), 5, 'cart: trigger_cart_max lines');

$v->get("/buy?order=O$_") for 1 .. 105;
is($v->hash->{p}, 105, 'every purchase counted');
is($t->redis->hlen($v->key . ':o'), 100, 'orders kept: the last 100');
$v->get('/buy?order=O105');
is($v->hash->{p}, 105, 'a recent order id is still known');

$t->done;
