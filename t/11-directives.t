# Every directive at least once, and configuration errors: "nginx -t"
# must refuse a bad configuration with a message that names the problem.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TriggerTest;

my $t = TriggerTest->new->require_module;

# ------------------------------------------------------------ valid configs

# every directive, each in a context the contract allows
my $all = <<'EOF';
    trigger_redis 127.0.0.1:%%REDIS_PORT%% db=0;
    trigger_secret %%SECRET%%;
    trigger_redis_timeout 1s;
    trigger_key_prefix "dir:";
    trigger_visit_timeout 30m;
    trigger_ttl 30d;
    trigger_viewed_max 5;
    trigger_cart_max 10;
    trigger_cookie_name vis;
    trigger_cookie_domain off;
    trigger_cookie_path /;
    trigger_cookie_expires 365d;
    trigger_cookie_flags httponly samesite=lax;
    trigger_bot_agents bot crawl "spider|slurp";
    trigger_pageview on;
    trigger_api_max_size 4k;
    trigger off;

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        trigger on;
        trigger_redis_timeout 2s;
        trigger_cookie_name vis;
        trigger_cookie_domain off;
        trigger_cookie_path /;
        trigger_cookie_expires max;
        trigger_cookie_flags secure httponly samesite=strict;
        trigger_consent_cookie consent yes;
        trigger_bot_agents off;
        trigger_pageview on;
        trigger_api_max_size 2k;

        add_header X-Trigger-Status $trigger_status always;
        add_header X-Vars "$trigger_visitor|$trigger_visits|$trigger_depth|$trigger_duration|$trigger_since_last|$trigger_cart_items|$trigger_cart_qty|$trigger_viewed|$trigger_purchases" always;

        location /product {
            trigger_redis_timeout 500ms;
            trigger_view $arg_sku;
            try_files /index.html =404;
        }
        location /cart/add {
            trigger_pageview off;
            trigger_cart_add $arg_sku $arg_qty;
            try_files /index.html =404;
        }
        location /cart/remove {
            trigger_cart_remove $arg_sku $arg_qty;
            try_files /index.html =404;
        }
        location /cart/clear {
            trigger_cart_clear on;
            try_files /index.html =404;
        }
        location /thanks {
            trigger_purchase $arg_order $arg_amount $arg_promo;
            try_files /index.html =404;
        }
        location /trigger/ {
            trigger_api;
            trigger_api_max_size 1k;
        }
        location /untracked {
            trigger off;
            try_files /index.html =404;
        }
    }
EOF

my ($ok, $out) = $t->nginx_t(http => $all);
ok($ok, 'nginx -t: every directive') or diag($out);

# the module unused, trigger_redis given but no "trigger on": fine
($ok, $out) = $t->nginx_t(http => <<'EOF');
    trigger_redis 127.0.0.1:6379;
    server { listen 127.0.0.1:%%PORT%%; trigger off; }
EOF
ok($ok, 'nginx -t: trigger off everywhere needs no secret') or diag($out);

# a unix socket address, an IPv6 address, password and db parse
for my $redis ('unix:/run/redis/redis.sock', '[::1]:6379',
               '127.0.0.1:6379 password=secret db=3') {
    ($ok, $out) = $t->nginx_t(http => <<"EOF");
    trigger_redis $redis;
    trigger_secret %%SECRET%%;
    server { listen 127.0.0.1:%%PORT%%; trigger on; }
EOF
    ok($ok, "nginx -t: trigger_redis $redis") or diag($out);
}

for my $flags ('off', 'secure', 'samesite=none secure', 'httponly',
               'secure httponly samesite=strict') {
    ($ok, $out) = $t->nginx_t(http => <<"EOF");
    %%TRIGGER_BASE%%
    trigger_cookie_flags $flags;
    server { listen 127.0.0.1:%%PORT%%; trigger on; }
EOF
    ok($ok, "nginx -t: trigger_cookie_flags $flags") or diag($out);
}

for my $exp ('off', 'max', '1h', '30d') {
    ($ok, $out) = $t->nginx_t(http => <<"EOF");
    %%TRIGGER_BASE%%
    trigger_cookie_expires $exp;
    server { listen 127.0.0.1:%%PORT%%; trigger on; }
EOF
    ok($ok, "nginx -t: trigger_cookie_expires $exp") or diag($out);
}

# ---------------------------------------------------------- invalid configs

my $srv = 'server { listen 127.0.0.1:%%PORT%%; trigger on; }';

my @bad = (
    # [ name, http body, expected message ]
    [ 'missing trigger_secret',
      "trigger_redis 127.0.0.1:%%REDIS_PORT%%;\n$srv",
      qr/trigger_secret.*required|required.*trigger_secret/ ],
    [ 'missing trigger_redis',
      "trigger_secret %%SECRET%%;\n$srv",
      qr/trigger_redis.*required|required.*trigger_redis/ ],
    [ 'trigger_api without trigger_redis',
      "trigger_secret %%SECRET%%;\n"
      . 'server { listen 127.0.0.1:%%PORT%%; location /e/ { trigger_api; } }',
      qr/trigger_redis/ ],
    [ 'short secret',
      "trigger_redis 127.0.0.1:%%REDIS_PORT%%;\ntrigger_secret short-secret;\n$srv",
      qr/trigger_secret.*16/ ],
    [ 'host name in trigger_redis',
      "trigger_redis localhost:6379;\ntrigger_secret %%SECRET%%;\n$srv",
      qr/localhost:6379.*IP|IP.*localhost:6379/ ],
    [ 'trigger_redis without port',
      "trigger_redis 127.0.0.1;\ntrigger_secret %%SECRET%%;\n$srv",
      qr/invalid.*"127\.0\.0\.1"/ ],
    [ 'trigger_redis port out of range',
      "trigger_redis 127.0.0.1:70000;\ntrigger_secret %%SECRET%%;\n$srv",
      qr/invalid.*127\.0\.0\.1:70000/ ],
    [ 'trigger_redis bad db',
      "trigger_redis 127.0.0.1:6379 db=x;\ntrigger_secret %%SECRET%%;\n$srv",
      qr/db=x/ ],
    [ 'trigger_redis unknown parameter',
      "trigger_redis 127.0.0.1:6379 foo=bar;\ntrigger_secret %%SECRET%%;\n$srv",
      qr/foo=bar/ ],
    [ 'trigger_redis twice',
      "trigger_redis 127.0.0.1:6379;\ntrigger_redis 127.0.0.1:6380;\n"
      . "trigger_secret %%SECRET%%;\n$srv",
      qr/"trigger_redis" directive is duplicate/ ],
    [ 'trigger_redis in server',
      "trigger_secret %%SECRET%%;\n"
      . 'server { listen 127.0.0.1:%%PORT%%; trigger_redis 127.0.0.1:6379; trigger on; }',
      qr/"trigger_redis" directive is not allowed here/ ],
    [ 'trigger_secret in location',
      "trigger_redis 127.0.0.1:6379;\n"
      . 'server { listen 127.0.0.1:%%PORT%%; location / { trigger_secret %%SECRET%%; } }',
      qr/"trigger_secret" directive is not allowed here/ ],
    [ 'trigger_secret twice',
      "%%TRIGGER_BASE%%\ntrigger_secret %%SECRET%%;\n$srv",
      qr/"trigger_secret" directive is duplicate/ ],
    [ 'bad cookie flag',
      "%%TRIGGER_BASE%%\ntrigger_cookie_flags httponly sekure;\n$srv",
      qr/sekure/ ],
    [ 'samesite=none without secure',
      "%%TRIGGER_BASE%%\ntrigger_cookie_flags samesite=none;\n$srv",
      qr/samesite=none.*secure/ ],
    [ 'cookie flags in location',
      "%%TRIGGER_BASE%%\n"
      . 'server { listen 127.0.0.1:%%PORT%%; location / { trigger on; trigger_cookie_flags secure; } }',
      qr/"trigger_cookie_flags" directive is not allowed here/ ],
    [ 'bad cookie expiry',
      "%%TRIGGER_BASE%%\ntrigger_cookie_expires never;\n$srv",
      qr/trigger_cookie_expires/ ],
    [ 'trigger_cookie_name in location',
      "%%TRIGGER_BASE%%\n"
      . 'server { listen 127.0.0.1:%%PORT%%; location / { trigger on; trigger_cookie_name x; } }',
      qr/"trigger_cookie_name" directive is not allowed here/ ],
    [ 'key prefix with a brace',
      "%%TRIGGER_BASE%%\ntrigger_key_prefix \"a{b\";\n$srv",
      qr/trigger_key_prefix/ ],
    [ 'bad bot regex',
      "%%TRIGGER_BASE%%\ntrigger_bot_agents \"bot(\";\n$srv",
      qr/pcre|regex|missing|parenthes/i ],
    [ 'visit timeout 0',
      "%%TRIGGER_BASE%%\ntrigger_visit_timeout 0s;\n$srv",
      qr/trigger_visit_timeout/ ],
    [ 'bad trigger_ttl',
      "%%TRIGGER_BASE%%\ntrigger_ttl forever;\n$srv",
      qr/trigger_ttl/ ],
    [ 'bad trigger_redis_timeout',
      "%%TRIGGER_BASE%%\n"
      . 'server { listen 127.0.0.1:%%PORT%%; trigger on; trigger_redis_timeout soon; }',
      qr/trigger_redis_timeout/ ],
    [ 'bad trigger_viewed_max',
      "%%TRIGGER_BASE%%\ntrigger_viewed_max many;\n$srv",
      qr/trigger_viewed_max/ ],
    [ 'bad trigger_cart_max',
      "%%TRIGGER_BASE%%\ntrigger_cart_max -1;\n$srv",
      qr/trigger_cart_max/ ],
    [ 'trigger with a bad flag',
      "%%TRIGGER_BASE%%\n"
      . 'server { listen 127.0.0.1:%%PORT%%; trigger yes; }',
      qr/trigger/ ],
    [ 'trigger_view in server',
      "%%TRIGGER_BASE%%\n"
      . 'server { listen 127.0.0.1:%%PORT%%; trigger on; trigger_view $arg_sku; }',
      qr/"trigger_view" directive is not allowed here/ ],
    [ 'trigger_view without argument',
      "%%TRIGGER_BASE%%\n"
      . 'server { listen 127.0.0.1:%%PORT%%; trigger on; location / { trigger_view; } }',
      qr/invalid number of arguments in "trigger_view"/ ],
    [ 'trigger_purchase with one argument',
      "%%TRIGGER_BASE%%\n"
      . 'server { listen 127.0.0.1:%%PORT%%; trigger on; location / { trigger_purchase $arg_o; } }',
      qr/invalid number of arguments in "trigger_purchase"/ ],
    [ 'trigger_cart_add with three arguments',
      "%%TRIGGER_BASE%%\n"
      . 'server { listen 127.0.0.1:%%PORT%%; trigger on; location / { trigger_cart_add a 1 2; } }',
      qr/invalid number of arguments in "trigger_cart_add"/ ],
    [ 'trigger_cart_clear bad flag',
      "%%TRIGGER_BASE%%\n"
      . 'server { listen 127.0.0.1:%%PORT%%; trigger on; location / { trigger_cart_clear 1; } }',
      qr/trigger_cart_clear/ ],
    [ 'trigger_api with an argument',
      "%%TRIGGER_BASE%%\n"
      . 'server { listen 127.0.0.1:%%PORT%%; location /e/ { trigger_api on; } }',
      qr/invalid number of arguments in "trigger_api"/ ],
    [ 'bad trigger_api_max_size',
      "%%TRIGGER_BASE%%\n"
      . 'server { listen 127.0.0.1:%%PORT%%; location /e/ { trigger_api; trigger_api_max_size huge; } }',
      qr/trigger_api_max_size/ ],
    [ 'trigger_api in an exact location',
      "%%TRIGGER_BASE%%\n"
      . 'server { listen 127.0.0.1:%%PORT%%; location = /api { trigger_api; } }',
      qr/"trigger_api".*prefix location/ ],
    [ 'consent cookie without value',
      "%%TRIGGER_BASE%%\ntrigger_consent_cookie consent;\n$srv",
      qr/invalid number of arguments in "trigger_consent_cookie"/ ],
    [ 'bad variable in an event',
      "%%TRIGGER_BASE%%\n"
      . 'server { listen 127.0.0.1:%%PORT%%; trigger on; location / { trigger_view $no_such_var; } }',
      qr/unknown "no_such_var" variable/ ],
);

for my $b (@bad) {
    my ($name, $http, $re) = @$b;
    ($ok, $out) = $t->nginx_t(http => $http);
    ok(!$ok, "nginx -t fails: $name");
    like($out, qr/\[emerg\].*$re/, "message for: $name");
}

# ------------------------------------------------ a running nginx with all

$t->start_redis;
$t->write_file('html/index.html', "<html>index</html>\n");
$t->key_prefix('dir:');
$t->start_nginx(http => $all);

my $v = $t->visitor(cookie_name => 'vis', cookies => { consent => 'yes' },
                    ua => 'Googlebot/2.1');   # bot filter is off here

my $r = $v->get('/product?sku=A1');
is($r->status, 200, 'all directives: page served');
is($r->header('X-Trigger-Status'), 'tracked', 'bots off: a bot UA is tracked');
my $c = $r->set_cookie('vis');
ok($c, 'cookie named by trigger_cookie_name');
ok($c && exists $c->{attrs}{secure}, 'server-level flags: Secure');
is($c && $c->{attrs}{samesite}, 'Strict', 'server-level flags: SameSite=Strict');
ok($c && !exists $c->{attrs}{domain}, 'trigger_cookie_domain off: no Domain');
ok($c && (($c->{attrs}{'max-age'} // 0) >= 5 * 365 * 86400
           || $c->{attrs}{expires}),
   'trigger_cookie_expires max: a far expiry');

my $vid = $v->vid;
my @vars = split /\|/, $r->header('X-Vars') // '', -1;
is($vars[0], $vid, '$trigger_visitor');
is_deeply([@vars[1 .. 8]], [1, 1, 0, 0, 0, 0, 1, 0],
          'visits depth duration since_last cart_items cart_qty viewed purchases');
is($v->hash->{v}, 'A1', 'key prefix from trigger_key_prefix');

$r = $v->get('/cart/add?sku=B2&qty=3');
@vars = split /\|/, $r->header('X-Vars') // '', -1;
is($vars[2], 1, 'trigger_pageview off: depth unchanged');
is_deeply([@vars[5, 6]], [1, 3], 'cart_add: 1 line, qty 3');

$r = $v->get('/cart/remove?sku=B2&qty=1');
@vars = split /\|/, $r->header('X-Vars') // '', -1;
is($vars[6], 2, 'cart_remove 1: qty 2');

$r = $v->get('/cart/clear');
@vars = split /\|/, $r->header('X-Vars') // '', -1;
is($vars[5], 0, 'cart_clear: no lines');

$v->get('/cart/add?sku=C3');
$r = $v->get('/thanks?order=O-1&amount=12.50&promo=SPRING');
@vars = split /\|/, $r->header('X-Vars') // '', -1;
is($vars[8], 1, 'purchase counted');
is($vars[5], 0, 'purchase empties the cart');
like($v->orders->{'O-1'} // '', qr/^1250 SPRING \d+$/, 'order stored');

$r = $v->post('/trigger/events', '{"type":"view","sku":"E5"}');
is($r->status, 200, 'trigger_api events endpoint');
$r = $v->post('/trigger/events', '{"type":"view","sku":"' . ('x' x 1100) . '"}');
is($r->status, 413, 'location trigger_api_max_size 1k');

$r = $v->get('/untracked/');
ok(!defined $r->header('X-Trigger-Status')
   || $r->header('X-Trigger-Status') eq '',
   'trigger off: $trigger_status empty');

my $before = $v->hash->{d};
$v->get('/untracked/');
is($v->hash->{d}, $before, 'trigger off: nothing stored');

# no consent cookie -> not tracked (server-level trigger_consent_cookie)
$r = http_request(port => $t->port, path => '/index.html');
is($r->header('X-Trigger-Status'), 'no_consent', 'consent cookie required');

$t->stop_nginx;

# ------------------------- unix socket, password and db= against a real redis

$t->stop_redis;
$t->start_redis(password => 'redis-pass-42');

$t->start_nginx(http => <<'EOF');
    trigger_redis unix:%%REDIS_SOCK%% password=redis-pass-42 db=3;
    trigger_secret %%SECRET%%;
    trigger_redis_timeout %%TIMEOUT%%;
    trigger_key_prefix "";
    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        trigger on;
        add_header X-Trigger-Status $trigger_status always;
    }
EOF
$t->key_prefix('');

$v = $t->visitor;
$r = $v->get('/index.html');
is($r->header('X-Trigger-Status'), 'tracked', 'unix socket + password: tracked');
$t->redis->select(3);
is($t->redis->hget('{' . $v->vid . '}', 'd'), 1,
   'db=3 and an empty key prefix: stored as {vid} in db 3');
$t->redis->select(0);
ok(!$t->redis->exists('{' . $v->vid . '}'), 'nothing in db 0');
$t->stop_nginx;

# a wrong password, a database that does not exist, a missing socket:
# pages are served untracked, the error is logged, nothing else breaks
for my $case (['password=wrong-pass', qr/AUTH failed|WRONGPASS|invalid password/i],
              ['password=redis-pass-42 db=99', qr/SELECT failed|DB index/i]) {
    my ($params, $log) = @$case;
    $t->start_nginx(http => <<"EOF");
    trigger_redis unix:%%REDIS_SOCK%% $params;
    trigger_secret %%SECRET%%;
    trigger_redis_timeout %%TIMEOUT%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        trigger on;
        add_header X-Trigger-Status \$trigger_status always;
    }
EOF
    my $keys = () = $t->redis->keys('*');
    my @st;
    for (1 .. 5) {
        $r = http_request(port => $t->port, path => '/index.html');
        push @st, $r->status . ' ' . ($r->header('X-Trigger-Status') // '');
        select undef, undef, undef, 0.1;
    }
    is(scalar(grep { /^200 / } @st), 5, "$params: pages served");
    is(scalar(grep { / tracked$/ } @st), 0, "$params: not tracked")
        or diag(join ', ', @st);
    is(scalar(() = $t->redis->keys('*')), $keys, "$params: nothing stored");
    ok(wait_until(sub { $t->grep_log($log) }), "$params: the error is logged");
    $t->stop_nginx;
}

$t->start_nginx(http => <<'EOF');
    trigger_redis unix:%%TMP%%/no-such.sock;
    trigger_secret %%SECRET%%;
    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        trigger on;
        add_header X-Trigger-Status $trigger_status always;
    }
EOF
$r = http_request(port => $t->port, path => '/index.html');
is($r->status, 200, 'missing unix socket: page served');
is($r->header('X-Trigger-Status'), 'unavailable', 'missing unix socket: unavailable');

$t->done;
