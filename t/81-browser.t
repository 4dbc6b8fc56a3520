#!/usr/bin/perl
# The offer in a real browser (t/e2e/offer.test.mjs): Debian's Chromium,
# driven by playwright-core, through the demo shop as examples/nginx.conf
# configures it, its letters sent to the local ESP (esp/fake-esp) as the
# demo's are.  This test changes only what a test must: ports, the run/
# paths, Redis, the absolute paths of the feed and the chains file, the
# shop's pages (a copy in the temp dir: the workers run as "nobody", who
# may not enter a clone in a home folder), two rules so that it is fast
# and deterministic (2 s instead of 20 s of visit; no holdout), and the
# example's A/B variants switched on, every visitor drawn into "control"
# ("bar", weight 0, is for the staff preview).

use strict;
use warnings;
use lib 't/lib';
use TriggerTest;
use Test::More;
use POSIX qw(_exit setsid);

for my $need (['/usr/bin/chromium', 'chromium'], ['node', 'nodejs']) {
    my ($bin, $pkg) = @$need;
    next if $bin =~ m{/} ? -x $bin : !system("command -v $bin >/dev/null");
    # CI must not pass by skipping the browser
    if ($ENV{CI}) {
        fail("$bin is missing: util/install-deps installs $pkg");
        done_testing;
        exit;
    }
    plan skip_all => "$bin is missing (apt-get install $pkg)";
}

my $e2e = "$TriggerTest::REPO/t/e2e";
if (grep { !-d "$e2e/node_modules/$_"
           || -M "$e2e/node_modules/$_" > -M "$e2e/package-lock.json" }
    qw(playwright-core axe-core))
{
    system("cd $e2e && npm ci --no-audit --no-fund >/dev/null") == 0
        or BAIL_OUT('npm ci failed in t/e2e');
}

my $t = TriggerTest->new;
$t->start_redis;
$t->start_esp;
my $dir = $t->dir;
my $repo = $TriggerTest::REPO;
system('cp', '-R', "$repo/examples/shop", "$dir/shop") == 0
    && system('chmod', '-R', 'a+rX', "$dir/shop") == 0
    or BAIL_OUT('cannot copy examples/shop');

my ($port, $port2, $redis) = ($t->port, $t->port(2), $t->redis_port);
my $esp = $t->port('ESP_PORT');

# the feed's links and the shop's address in the letters: this shop's
my $feed = $t->read_file('shop/products.json');
ok $feed =~ s/127\.0\.0\.1:8080\b/127.0.0.1:$port/g,
    'the feed has the demo shop\'s address';
$t->write_file('shop/products.json', $feed);

my $chains = $t->read_file("$repo/examples/chains-demo.json");
ok $chains =~ s/127\.0\.0\.1:8080\b/127.0.0.1:$port/g,
    'the chains file has the demo shop\'s address';
ok $chains =~ s{"file": "letters/}{"file": "$repo/examples/letters/}g,
    'and its letters in examples/letters/';
$t->write_file('chains-demo.json', $chains);

my $conf = $t->read_file("$repo/examples/nginx.conf");
# in this order: the run/ paths first, so that none is looked for in
# the temp dir's own path (TMPDIR may be under /run)
my @subst = (
    qr/\brun\//                      => "$dir/",
    qr/127\.0\.0\.1:8080/            => "127.0.0.1:$port",
    qr/127\.0\.0\.1:8081/            => "127.0.0.1:$port2",
    qr/127\.0\.0\.1:6380/            => "127.0.0.1:$redis",
    qr/127\.0\.0\.1:8025/            => "127.0.0.1:$esp",
    qr/trigger_products [^;]+;/      => "trigger_products $dir/shop/products.json;",
    qr/trigger_chains [^;]+;/        => "trigger_chains $dir/chains-demo.json;",
    qr/\broot examples\/shop;/       => "root $dir/shop;",
    qr/trigger_offer_min_duration [^;]+;/ => 'trigger_offer_min_duration 2s;',
    qr/trigger_offer_holdout [^;]+;/ => 'trigger_offer_holdout 0%;',
    qr/#trigger_offer_variant control weight=1;/
        => 'trigger_offer_variant control weight=1;',
    qr/#trigger_offer_variant bar weight=1 /
        => 'trigger_offer_variant bar weight=0 ',
    qr/#(?=\s+"accent=)/              => ' ',
);
while (my ($re, $to) = splice @subst, 0, 2) {
    ok $conf =~ s/$re/$to/g, "examples/nginx.conf has $re";
}
$t->write_file('nginx.conf', $conf);

my $pid = fork // die;
if ($pid == 0) {
    setsid();
    open STDIN, '<', '/dev/null';
    open STDOUT, '>>', "$dir/nginx.stderr";
    open STDERR, '>&', \*STDOUT;
    exec '/usr/sbin/nginx', '-p', "$repo/", '-c', "$dir/nginx.conf",
         '-e', "$dir/error.log" or _exit(127);
}
$t->{nginx_pid} = $pid;
ok wait_until(sub { $t->get('/')->status == 200 }, timeout => 10),
    'the demo shop is up';

# screenshots go to the temp dir; UPDATE_DOCS_IMG=1 also refreshes the
# README's pictures in docs/img
local $ENV{BASE_URL} = "http://127.0.0.1:$port";
local $ENV{ESP_URL} = "http://127.0.0.1:$esp";
local $ENV{SHOTS_DIR} = "$dir/shots";
local $ENV{DOCS_IMG_DIR} = $ENV{UPDATE_DOCS_IMG} ? "$repo/docs/img" : '';
my $out = `node --test --test-reporter=tap $e2e/offer.test.mjs 2>&1`;
my $rc = $?;
diag($out) if $rc || $ENV{TEST_VERBOSE};
is $rc, 0, 'the browser scenarios pass (t/e2e/offer.test.mjs)';
my ($pass) = $out =~ /^# pass (\d+)/m;
is $pass, 8, 'all eight scenarios ran';

$t->done;
