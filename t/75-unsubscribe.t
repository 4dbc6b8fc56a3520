# RFC 8058 one-click unsubscribe: the letters' signed link; a mail
# client's POST (no cookie, form body) gets 200 and no redirect, the
# address goes on the suppression list every send checks, and a later
# subscription from the widget never mails it again.  A GET only shows a
# button: mail scanners follow links.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TriggerTest;
use Digest::SHA qw(sha1_hex);

my $t = TriggerTest->new->require_module;
$t->start_redis;
$t->write_file('html/index.html', "<html><body>shop</body></html>\n");

$t->start_nginx(http => <<'EOF2');
    %%TRIGGER_BASE%%

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        trigger on;
        trigger_offer on;
        trigger_offer_min_depth 1;
        trigger_offer_min_duration 0;
        trigger_offer_require_items off;

        location /_trigger/ {
            trigger_api;
        }
    }
EOF2

sub subscribe {
    my ($email) = @_;
    my $v = $t->visitor;
    my ($json) = $v->get('/index.html')->body
        =~ m{id="trg-offer">(.*?)</script>}s or return;
    return $v->post('/_trigger/subscribe',
                    json_encode({ token => json_decode($json)->{token},
                                  email => $email }));
}

my $suppressed = $t->key_prefix . 'suppressed';
my $record = $t->key_prefix . 'email:' . sha1_hex('ann@example.com');

is(subscribe('ann@example.com')->status, 200, 'subscribed');
is($t->redis->hget($record, 'state'), 'queued', 'the address is subscribed');

my $link = $t->signed_link('unsubscribe', 'ann@example.com', time + 86400 * 365);

# a scanner's GET changes nothing
my $r = http_get($t->port, $link);
is($r->status, 200, 'GET: a page');
like($r->body, qr{<button type="submit"[^>]*>Unsubscribe</button>},
     'with a button');
ok(!$t->redis->sismember($suppressed, sha1_hex('ann@example.com')),
   'a GET unsubscribes nobody');

# bad links
for my $bad ([$t->signed_link('unsubscribe', 'ann@example.com', time - 1),
              'expired'],
             [$t->signed_link('confirm', 'ann@example.com', time + 3600)
                  =~ s/confirm/unsubscribe/r, 'another purpose'],
             [$t->signed_link('unsubscribe', 'ann@example.com', time + 3600,
                              secret => 'x' x 32), 'another key']) {
    $r = http_request(port => $t->port, method => 'POST', path => $bad->[0],
                      body => 'List-Unsubscribe=One-Click',
                      headers => [['Content-Type',
                                   'application/x-www-form-urlencoded']]);
    is($r->status, 403, "$bad->[1]: 403");
}
ok(!$t->redis->sismember($suppressed, sha1_hex('ann@example.com')),
   'bad links unsubscribe nobody');

# the one-click POST, as a mail client sends it: no cookie, no origin
$r = http_request(port => $t->port, method => 'POST', path => $link,
                  ua => 'NONE', body => 'List-Unsubscribe=One-Click',
                  headers => [['Content-Type',
                               'application/x-www-form-urlencoded']]);
is($r->status, 200, 'one-click POST: 200');
ok(!$r->header('Location'), 'no redirect');
ok(!$r->headers('Set-Cookie'), 'no cookie');
like($r->body, qr/unsubscribed/, 'says so');
ok($t->redis->sismember($suppressed, sha1_hex('ann@example.com')),
   'suppressed');
ok($t->redis->hget($record, 'unsubscribed'), 'the record says when');
is(http_request(port => $t->port, method => 'POST', path => $link)->status,
   200, 'again: still 200');

# the widget cannot put it back
$t->redis->del($record);
$r = subscribe('ann@example.com');
is($r->status, 200, 'a later subscription is answered as any other');
ok(!$t->redis->exists($record),
   'but subscribes nothing for a suppressed address');

# an address never subscribed can be suppressed ahead
$link = $t->signed_link('unsubscribe', 'bob@example.com', time + 3600);
is(http_request(port => $t->port, method => 'POST', path => $link)->status,
   200, 'unknown address: 200');
ok($t->redis->sismember($suppressed, sha1_hex('bob@example.com')),
   'suppressed too');

$t->done;
