# Two workers share Redis: concurrent requests of one visitor are counted
# exactly (one atomic script per request), on all three paths.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TriggerTest;

my $t = TriggerTest->new->require_module;
$t->start_redis;
$t->write_file('html/index.html', "<html>index</html>\n");

$t->start_nginx(workers => 2, http => <<'EOF');
    %%TRIGGER_BASE%%
    log_format workers '$pid $trigger_status $trigger_depth';

    server {
        # reuseport: the kernel spreads connections over both workers
        listen 127.0.0.1:%%PORT%% reuseport;
        root %%HTML%%;
        trigger on;
        access_log %%TMP%%/workers.log workers;
        add_header X-TS $trigger_status always;
        add_header X-Depth $trigger_depth always;

        location = /add {
            trigger_pageview off;
            trigger_cart_add $arg_sku;
            try_files /index.html =404;
        }
        location /trigger/ { trigger_api; }
        location /app/ {
            proxy_pass http://127.0.0.1:%%PORT2%%/;
        }
    }

    server {
        listen 127.0.0.1:%%PORT2%%;
        root %%HTML%%;
        location / {
            add_header X-Trigger-Cart-Add "H1";
            try_files /index.html =404;
        }
    }
EOF

my $N = 50;
my $port = $t->port;

my $v = $t->visitor;
$v->get('/index.html');
my $cookie = { trg_vid => $v->cookie };
is($v->hash->{d}, 1, 'visitor known');

# ---------------------------------------------------------- page views

my @res = TriggerTest::http_parallel(
    map { { port => $port, path => '/index.html', cookies => $cookie } } 1 .. $N);
is(scalar(grep { $_->status == 200 } @res), $N, "$N concurrent pages: all 200");
is(scalar(grep { status_seen($_->header('X-TS')) eq 'tracked' } @res), $N,
   "$N concurrent pages: all tracked");
is($v->hash->{d}, $N + 1, "depth exactly " . ($N + 1));
my @depths = sort { $a <=> $b } map { $_->header('X-Depth') // 0 } @res;
is_deeply(\@depths, [2 .. $N + 1], 'every request saw its own depth, no duplicates');
ok(!grep({ $_->headers('Set-Cookie') } @res), 'no new cookie for a known visitor');

my %pids = map { (split / /)[0] => 1 } split /\n/, $t->read_file('workers.log');
is(scalar keys %pids, 2, 'both workers served requests')
    or diag(join ' ', keys %pids);

# ---------------------------------------------------------- config path

@res = TriggerTest::http_parallel(
    map { { port => $port, path => '/add?sku=C1', cookies => $cookie } } 1 .. $N);
is(scalar(grep { $_->status == 200 } @res), $N, "$N concurrent cart adds: 200");
is($v->cart->{C1}, $N, "cart quantity exactly $N");
is($v->hash->{d}, $N + 1, 'pageview off: depth unchanged');

# ------------------------------------------------------------- endpoint

@res = TriggerTest::http_parallel(
    map { { port => $port, path => '/trigger/events', method => 'POST', cookies => $cookie,
            headers => [['Content-Type', 'application/json']],
            body => '{"events":[{"type":"cart_add","sku":"E1"},{"type":"view","sku":"V' . $_ . '"}]}' } }
    1 .. $N);
is(scalar(grep { $_->status == 200 } @res), $N, "$N concurrent endpoint posts: 200");
is($v->cart->{E1}, $N, "endpoint: cart quantity exactly $N");
my @qty = sort { $a <=> $b } map { (($_->json // {})->{visitor} // {})->{cart_qty} // 0 } @res;
is_deeply(\@qty, [map { $N + $_ } 1 .. $N], 'endpoint replies: every total seen once');

# ---------------------------------------------------------- header path

@res = TriggerTest::http_parallel(
    map { { port => $port, path => '/app/', cookies => $cookie } } 1 .. $N);
is(scalar(grep { $_->status == 200 } @res), $N, "$N concurrent proxied pages: 200");
ok(wait_until(sub { ($v->cart->{H1} // 0) == $N }),
   "header path: cart quantity reaches exactly $N")
    or diag('H1 = ' . ($v->cart->{H1} // 'none'));
is($v->hash->{d}, 2 * $N + 1, 'header path: depth counted once per page');

# ----------------------------------- pipelined requests, one connection

my $d0 = $v->hash->{d};
my $req = "GET /index.html HTTP/1.1\r\nHost: localhost\r\n"
        . "User-Agent: $DEFAULT_UA\r\nCookie: trg_vid=" . $v->cookie . "\r\n";
my $raw = ($req . "\r\n") x 4 . $req . "Connection: close\r\n\r\n";
my $pr = http_request(port => $port, raw => $raw);
my @statuses = $pr->raw =~ m{^HTTP/1\.1 (\d+)}mg;
my @pdepths = $pr->raw =~ m{^X-Depth: (\d+)}mg;
is_deeply(\@statuses, [(200) x 5], '5 pipelined requests: 5 responses');
is_deeply(\@pdepths, [map { $d0 + $_ } 1 .. 5], 'pipelined: depths in order');

# ------------------------------------------------------ new visitors

my $keys = () = $t->visitor_keys;
@res = TriggerTest::http_parallel(
    map { { port => $port, path => '/index.html' } } 1 .. $N);
my %vids = map { (split /\./, ($_->set_cookie('trg_vid') // {})->{value} // '')[0] => 1 } @res;
delete $vids{''};
is(scalar keys %vids, $N, "$N concurrent new visitors: $N distinct ids");
is(scalar(() = $t->visitor_keys), $keys + $N, "$N new keys");

$t->done;
