# The module is built, loads into Debian's nginx, does nothing while
# unused, and tracks a first request once configured.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TriggerTest;

my $t = TriggerTest->new->require_module;

ok(-s $t->module_path, 'module .so built');

my $ldd = `ldd ${\ $t->module_path} 2>&1`;
unlike($ldd, qr/not found/, 'every shared library the module needs resolves')
    or diag($ldd);

# loaded but unused: no trigger_redis / trigger_secret needed
my ($ok, $out) = $t->nginx_t(http => <<'EOF');
    server { listen 127.0.0.1:%%PORT%%; location / { return 204; } }
EOF
ok($ok, 'nginx -t: module loaded, no trigger directives') or diag($out);

$t->start_redis;
$t->write_file('html/index.html', "<html>index</html>\n");

$t->start_nginx(http => <<'EOF');
    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
    }
EOF

my $r = $t->get('/index.html');
is($r->status, 200, 'unused module: page served');
ok(!$r->headers('Set-Cookie'), 'unused module: no cookie');
my @clients = grep { /cmd=/ && !/cmd=client/ } split /\n/,
    $t->redis->client('list');
is(scalar(@clients), 0, 'unused module: workers do not connect to redis')
    or diag(join "\n", @clients);
ok($t->stop_nginx, 'unused module: QUIT');

$t->start_nginx(http => <<'EOF');
    %%TRIGGER_BASE%%
    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        location / {
            trigger on;
            add_header X-Trigger-Status $trigger_status always;
            add_header X-Depth $trigger_depth always;
        }
    }
EOF

$r = $t->get('/index.html');
is($r->status, 200, 'tracked page served');
is($r->body, "<html>index</html>\n", 'body untouched');
is($r->header('X-Trigger-Status'), 'tracked', 'status tracked');
is($r->header('X-Depth'), 1, 'depth 1');
my $c = $r->set_cookie('trg_vid');
ok($c, 'visitor cookie set');
like($c && $c->{value}, qr/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{11}$/,
     'cookie value is vid.mac (22 + 11 base64url chars)');

my ($vid) = split /\./, ($c ? $c->{value} : '');
is($t->visitor_hash($vid)->{d}, 1, 'stored in redis');

$t->done;
