# Page tracking: the visitor cookie (name, domain, path, expiry, flags),
# depth, visits, duration, since_last, TTLs, viewed (dedup + cap), cart
# add/remove/clear, purchases (dedup by order id, cart emptied), and the
# $trigger_* variables in headers and in the access log.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TriggerTest;

my $t = TriggerTest->new->require_module;
$t->start_redis;
$t->write_file("html/$_.html", "<html>$_</html>\n") for qw(index page);

my $vars = join "\n", map { "add_header X-$_->[0] \$trigger_$_->[1] always;" }
    (['Status', 'status'], ['Visitor', 'visitor'], ['Visits', 'visits'],
     ['Depth', 'depth'], ['Duration', 'duration'],
     ['Since-Last', 'since_last'], ['Cart-Items', 'cart_items'],
     ['Cart-Qty', 'cart_qty'], ['Viewed', 'viewed'],
     ['Purchases', 'purchases']);

$t->start_nginx(http => <<"EOF");
    %%TRIGGER_BASE%%
    trigger_visit_timeout 2s;
    trigger_ttl 1h;
    trigger_viewed_max 3;
    trigger_cart_max 2;

    log_format trigger '\$request_uri \$trigger_status \$trigger_visitor '
                       'v=\$trigger_visits d=\$trigger_depth';

    # defaults for the cookie
    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        trigger on;
        access_log %%TMP%%/trigger.log trigger;
        $vars

        location /view/ {
            trigger_view \$arg_sku;
            try_files /page.html =404;
        }
        location /add/ {
            trigger_cart_add \$arg_sku \$arg_qty;
            try_files /page.html =404;
        }
        location /remove/ {
            trigger_cart_remove \$arg_sku \$arg_qty;
            try_files /page.html =404;
        }
        location /clear/ {
            trigger_cart_clear on;
            try_files /page.html =404;
        }
        location /buy/ {
            trigger_purchase \$arg_order \$arg_amount \$arg_promo;
            try_files /page.html =404;
        }
    }

    # every cookie attribute configured
    server {
        listen 127.0.0.1:%%PORT2%%;
        root %%HTML%%;
        trigger on;
        trigger_cookie_name shop_vid;
        trigger_cookie_domain .example.com;
        trigger_cookie_path /shop/;
        trigger_cookie_expires 30d;
        trigger_cookie_flags secure httponly samesite=strict;
        $vars
    }

    # a session cookie without flags
    server {
        listen 127.0.0.1:%%PORT3%%;
        root %%HTML%%;
        trigger on;
        trigger_cookie_expires off;
        trigger_cookie_flags off;
        $vars
    }
EOF

sub vars_of {
    my ($r) = @_;
    return { map { lc($_) =~ s/-/_/gr => $r->header("X-$_") }
             qw(Status Visitor Visits Depth Duration Since-Last Cart-Items
                Cart-Qty Viewed Purchases) };
}

# ----------------------------------------------------------- cookie

my $v = $t->visitor;
my $r = $v->get('/index.html');
is($r->status, 200, 'first page 200');
is($r->body, "<html>index</html>\n", 'body untouched');
my @sc = $r->set_cookies;
is(scalar @sc, 1, 'exactly one Set-Cookie');
my $c = $r->set_cookie('trg_vid');
ok($c, 'default cookie name trg_vid');
like($c->{value} // '', qr/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{11}$/,
     'cookie value vid.mac');
is($c->{attrs}{path}, '/', 'default Path=/');
ok(!exists $c->{attrs}{domain}, 'no Domain by default');
is($c->{attrs}{'max-age'}, 365 * 86400, 'default expiry 365d (Max-Age)')
    or diag($c->{raw});
ok(exists $c->{attrs}{httponly}, 'default HttpOnly');
is($c->{attrs}{samesite}, 'Lax', 'default SameSite=Lax');
ok(!exists $c->{attrs}{secure}, 'no Secure by default');

my $vars1 = vars_of($r);
is(status_seen($vars1->{status}), 'tracked', '$trigger_status tracked');
is($vars1->{visitor}, $v->vid, '$trigger_visitor is the vid of the cookie');
is_deeply([@$vars1{qw(visits depth duration since_last cart_items cart_qty
                      viewed purchases)}],
          [1, 1, 0, 0, 0, 0, 0, 0], 'first page: visits 1 depth 1, rest 0');

my $h = $v->hash;
is($h->{n}, 1, 'hash n=1');
is($h->{d}, 1, 'hash d=1');
is($h->{g}, 0, 'hash g=0 on the first visit');
ok(abs($h->{s} - time) < 5, 'hash s is now');
is($h->{l}, $h->{s}, 'hash l = s');

my $ttl = $t->redis->ttl($v->key);
ok($ttl > 0 && $ttl <= 3600, "TTL set from trigger_ttl 1h ($ttl)");

# activity refreshes the TTL, at most once in min(1 h, ttl / 10): field t
# says when it last did; make that long ago
$t->redis->expire($v->key, 100);
$t->redis->hset($v->key, 't', 0);
$r = $v->get('/index.html');
$ttl = $t->redis->ttl($v->key);
ok($ttl > 100 && $ttl <= 3600, "TTL refreshed by the next page ($ttl)");
is($v->hash->{d}, 2, 'depth 2 after the TTL check');
# back to the state the tests below expect: a fresh visitor
$v = $t->visitor;
$r = $v->get('/index.html');

my $r2 = http_request(port => $t->port(2), path => '/index.html');
my $c2 = $r2->set_cookie('shop_vid');
ok($c2, 'trigger_cookie_name shop_vid');
is($c2 && $c2->{attrs}{domain}, '.example.com', 'Domain from trigger_cookie_domain');
is($c2 && $c2->{attrs}{path}, '/shop/', 'Path from trigger_cookie_path');
is($c2 && $c2->{attrs}{'max-age'}, 30 * 86400, 'Max-Age from trigger_cookie_expires');
ok($c2 && exists $c2->{attrs}{secure}, 'Secure');
ok($c2 && exists $c2->{attrs}{httponly}, 'HttpOnly');
is($c2 && $c2->{attrs}{samesite}, 'Strict', 'SameSite=Strict');
ok(!$r2->set_cookie('trg_vid'), 'no default-named cookie there');

my $r3 = http_request(port => $t->port(3), path => '/index.html');
my $c3 = $r3->set_cookie('trg_vid');
ok($c3, 'session cookie set');
ok($c3 && !exists $c3->{attrs}{'max-age'} && !exists $c3->{attrs}{expires},
   'trigger_cookie_expires off: no Max-Age / Expires') or diag($c3->{raw});
ok($c3 && !grep({ exists $c3->{attrs}{$_} } qw(secure httponly samesite)),
   'trigger_cookie_flags off: no flags') or diag($c3->{raw});

# ------------------------------------------------ depth, duration, visits

$r = $v->get('/page.html');
ok(!$r->headers('Set-Cookie'), 'known visitor: no new Set-Cookie');
is(vars_of($r)->{depth}, 2, 'depth 2');
is(vars_of($r)->{visits}, 1, 'still visit 1');
is($v->hash->{d}, 2, 'hash d=2');

sleep 1.2;
$r = $v->get('/page.html');
my $vars3 = vars_of($r);
is($vars3->{depth}, 3, 'depth 3');
ok($vars3->{duration} >= 1 && $vars3->{duration} <= 3,
   "duration counts from the visit start ($vars3->{duration})");
is($vars3->{since_last}, 0, 'since_last 0 within the first visit');

# trigger_visit_timeout 2s: more than 2 s of inactivity starts visit 2
sleep 3.2;
$r = $v->get('/page.html');
my $vars4 = vars_of($r);
is($vars4->{visits}, 2, 'new visit after the visit timeout');
is($vars4->{depth}, 1, 'depth restarts at 1');
is($vars4->{duration}, 0, 'duration restarts at 0');
ok($vars4->{since_last} >= 3 && $vars4->{since_last} <= 6,
   "since_last = gap since the previous visit ($vars4->{since_last})");
$h = $v->hash;
is($h->{n}, 2, 'hash n=2');
is($h->{g}, $vars4->{since_last}, 'hash g = since_last');
is($h->{s}, $h->{l}, 'visit start = last activity');

# ----------------------------------------------------- viewed products

$v = $t->visitor;
$v->get('/view/?sku=A1');
$v->get('/view/?sku=B2');
$r = $v->get('/view/?sku=A1');
is($v->hash->{v}, 'A1,B2', 'viewed: most recent first, deduplicated');
is(vars_of($r)->{viewed}, 2, '$trigger_viewed 2');
$v->get('/view/?sku=C3');
$r = $v->get('/view/?sku=D4');
is($v->hash->{v}, 'D4,C3,A1', 'trigger_viewed_max 3 keeps the 3 most recent');
is(vars_of($r)->{viewed}, 3, '$trigger_viewed capped at 3');
is(vars_of($r)->{depth}, 5, 'every product page counts as a page view');
$r = $v->get('/view/');
is(status_seen(vars_of($r)->{status}), 'tracked', 'empty SKU: tracked, no event');
is($v->hash->{v}, 'D4,C3,A1', 'empty SKU: viewed unchanged');
$r = $v->get('/view/?sku=bad%20sku');
is($r->status, 200, 'invalid SKU: page still served');
is($v->hash->{v}, 'D4,C3,A1', 'invalid SKU: ignored');

# ---------------------------------------------------------------- cart

$v = $t->visitor;
$r = $v->get('/add/?sku=A1&qty=2');
is_deeply($v->cart, { A1 => 2 }, 'cart_add qty 2');
$r = $v->get('/add/?sku=A1');
is_deeply($v->cart, { A1 => 3 }, 'cart_add without qty adds 1');
$r = $v->get('/add/?sku=B2&qty=5');
is_deeply([@{vars_of($r)}{qw(cart_items cart_qty)}], [2, 8],
          '$trigger_cart_items 2, $trigger_cart_qty 8');
$r = $v->get('/add/?sku=C3&qty=1');
is_deeply($v->cart, { A1 => 3, B2 => 5 },
          'trigger_cart_max 2: a third line is not added');
$r = $v->get('/add/?sku=A1&qty=1000');
is_deeply($v->cart, { A1 => 3, B2 => 5 }, 'qty 1000 is invalid: ignored');
$r = $v->get('/add/?sku=A1&qty=0');
is_deeply($v->cart, { A1 => 3, B2 => 5 }, 'qty 0 is invalid: ignored');
$r = $v->get('/remove/?sku=A1&qty=1');
is_deeply($v->cart, { A1 => 2, B2 => 5 }, 'cart_remove qty 1');
$r = $v->get('/remove/?sku=B2');
is_deeply($v->cart, { A1 => 2 }, 'cart_remove without qty removes the line');
$r = $v->get('/remove/?sku=A1&qty=5');
is_deeply($v->cart, {}, 'removing more than the quantity removes the line');
is_deeply([@{vars_of($r)}{qw(cart_items cart_qty)}], [0, 0], 'cart empty');
$r = $v->get('/remove/?sku=Z9');
is($r->status, 200, 'removing an absent line is harmless');
$v->get('/add/?sku=A1&qty=2');
$v->get('/add/?sku=B2&qty=1');
$r = $v->get('/clear/');
is_deeply($v->cart, {}, 'cart_clear empties the cart');
is(vars_of($r)->{cart_items}, 0, '$trigger_cart_items 0 after clear');

# ------------------------------------------------------------ purchases

$v = $t->visitor;
$v->get('/add/?sku=A1&qty=2');
$r = $v->get('/buy/?order=1001&amount=59.90&promo=SPRING');
$h = $v->hash;
is($h->{p}, 1, 'purchase counted');
is($h->{r}, 5990, 'revenue in cents');
is_deeply($v->cart, {}, 'purchase empties the cart');
is(vars_of($r)->{purchases}, 1, '$trigger_purchases 1');
my $orders = $v->orders;
like($orders->{1001} // '', qr/^5990 SPRING \d+$/, 'order stored: cents promo ts');
$ttl = $t->redis->ttl($v->key . ':o');
ok($ttl > 0 && $ttl <= 3600, "orders key has a TTL ($ttl)");
$t->redis->expire($v->key . ':o', 100);
$t->redis->expire($v->key, 100);

$v->get('/add/?sku=B2');
$r = $v->get('/buy/?order=1001&amount=59.90&promo=SPRING');
$h = $v->hash;
is($h->{p}, 1, 'same order id again: not counted twice');
is($h->{r}, 5990, 'revenue unchanged');
is_deeply($v->cart, { B2 => 1 }, 'a duplicate order does not empty the cart');

$t->redis->hset($v->key, 't', 0);
$r = $v->get('/buy/?order=1002&amount=10');
$h = $v->hash;
is($h->{p}, 2, 'second order');
$ttl = $t->redis->ttl($v->key . ':o');
ok($ttl > 100 && $ttl <= 3600, "orders TTL refreshed by the next purchase ($ttl)");
$ttl = $t->redis->ttl($v->key);
ok($ttl > 100 && $ttl <= 3600, "visitor TTL refreshed ($ttl)");
is($h->{r}, 6990, 'revenue summed');
like($v->orders->{1002} // '', qr/^1000 - \d+$/, 'no promo stored as "-"');
is_deeply($v->cart, {}, 'cart emptied');

$r = $v->get('/buy/?order=1003&amount=1.234');
is($v->hash->{p}, 2, 'amount with 3 decimals: ignored');
$r = $v->get('/buy/?order=1003&amount=-5');
is($v->hash->{p}, 2, 'negative amount: ignored');
$r = $v->get('/buy/?order=1003&amount=5&promo=' . ('P' x 33));
is($v->hash->{p}, 2, '33-char promo: ignored');
$r = $v->get('/buy/?order=1003&amount=0');
is($v->hash->{p}, 3, 'amount 0 is valid');

# --------------------------------------------------------- access log

my $vid = $v->vid;
ok(wait_until(sub { $t->read_file('trigger.log') =~ /\Q$vid\E/ }),
   'access log has the visitor');
my @lines = grep { /\Q$vid\E/ } split /\n/, $t->read_file('trigger.log');
my $status = ($ENV{TEST_TRIGGER_ZONE} // '0') ne '0' ? 'zone' : 'tracked';
like($lines[0], qr{^/add/\?sku=A1&qty=2 $status \Q$vid\E v=1 d=1$},
     'access log variables');

$t->done;
