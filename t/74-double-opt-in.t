# trigger_double_opt_in: the answer carries no code, the address waits
# unconfirmed and gets only the confirmation letter, whose signed link
# shows a button on GET (mail scanners follow links) and confirms on
# POST: then the chain starts, once, and its first letter has the code.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TriggerTest;
use Digest::SHA qw(sha1_hex);

my $t = TriggerTest->new->require_module;
$t->start_redis;
$t->start_esp;
$t->write_file('html/index.html', "<html><body>shop</body></html>\n");
$t->write_file('chains.json', <<'EOF');
{
  "defaults": { "from_email": "shop@example.com", "shop_name": "Shop",
                "shop_url": "http://127.0.0.1:8080" },
  "letters": {
    "confirm": { "subject": "Please confirm",
                 "text": "Confirm: {{{confirm_url}}}" },
    "offer": { "subject": "Your code {{{code}}}",
               "text": "Code {{{code}}}" }
  },
  "chains": [ { "name": "offer", "trigger": "code_issued",
                "steps": [ { "send": "offer" } ] } ]
}
EOF

$t->start_nginx(http => <<'EOF');
    %%TRIGGER_BASE%%
    trigger_double_opt_in on;
    trigger_chains %%TMP%%/chains.json;
    trigger_esp sendgrid key=test-key url=http://127.0.0.1:%%ESP_PORT%%;

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
EOF

sub offer_token {
    my ($v) = @_;
    my ($json) = $v->get('/index.html')->body
        =~ m{id="trg-offer">(.*?)</script>}s or return;
    return json_decode($json)->{token};
}

# the link the confirmation letter carries
sub confirm_link {
    my ($email, $expires, $secret) = @_;
    return $t->signed_link('confirm', $email, $expires,
                           $secret ? (secret => $secret) : ());
}

my $v = $t->visitor;
my $r = $v->post('/_trigger/subscribe',
                 json_encode({ token => offer_token($v),
                               email => 'ann@example.com' }));
is($r->status, 200, 'subscribed');
is_deeply($r->json, { ok => JSON::PP::true, confirm => JSON::PP::true },
          'no code in the answer: it goes by email');

my $record = $t->key_prefix . 'email:' . sha1_hex('ann@example.com');
my %e = @{ $t->redis->hgetall($record) };
is($e{state}, 'unconfirmed', 'the address waits for its confirmation');
ok($e{code}, 'its code is kept for the letter');
sub letters_to {
    my ($email) = @_;
    return [grep { grep { $_ eq $email } @{ $_->{to} || [] } }
            @{ $t->esp_messages || [] }];
}

ok(wait_until(sub { @{ letters_to('ann@example.com') } }, timeout => 10),
   'the confirmation letter arrives');
my $letter = letters_to('ann@example.com')->[0];
is($letter->{subject}, 'Please confirm', 'it is the confirmation');
my ($sent_link) = $letter->{text}
    =~ m{Confirm: http://127\.0\.0\.1:8080(/_trigger/confirm\?e=[0-9a-f]{40}&t=\S+)};
ok($sent_link, 'with its signed link');
unlike($letter->{text}, qr/\Q$e{code}\E/, 'but not the code');

# a known address from another visitor: the same answer, nothing new
my $w = $t->visitor;
$r = $w->post('/_trigger/subscribe',
              json_encode({ token => offer_token($w),
                            email => 'ann@example.com' }));
is_deeply($r->json, { ok => JSON::PP::true, confirm => JSON::PP::true },
          'a known address: the same answer');
sleep 1;
is(scalar @{ letters_to('ann@example.com') }, 1, 'no second letter for it');

# the link, as the letter carries it
my $link = $sent_link;
$r = $t->get($link);
is($r->status, 200, 'GET: a page');
like($r->body, qr/<form method="post">/, 'with a button');
is($r->header('Referrer-Policy'), 'no-referrer', 'the token does not leak');
is($r->header('Cache-Control'), 'no-store', 'not cached');
is({ @{ $t->redis->hgetall($record) } }->{state}, 'unconfirmed',
   'a GET confirms nothing');

for my $bad ([confirm_link('ann@example.com', time - 10), 403, 'expired'],
             [confirm_link('ann@example.com', time + 3600,
                           'another-secret-0123456789abcdef'), 403,
              'another key'],
             [confirm_link('bob@example.com', time + 3600) =~ s/e=\w+/e=/r,
              400, 'no address'],
             ['/_trigger/confirm', 400, 'no arguments']) {
    $r = $t->post($bad->[0], '');
    is($r->status, $bad->[1], "POST with $bad->[2]: $bad->[1]");
}
is({ @{ $t->redis->hgetall($record) } }->{state}, 'unconfirmed',
   'bad links confirm nothing');

# a form's POST, as the browser sends it from the page
$r = http_request(port => $t->port, method => 'POST', path => $link,
                  headers => [['Content-Type',
                               'application/x-www-form-urlencoded']],
                  body => '');
is($r->status, 200, 'POST: confirmed');
like($r->body, qr/confirmed/, 'says so');
%e = @{ $t->redis->hgetall($record) };
is($e{state}, 'queued', 'the chain starts');
ok($e{confirmed}, 'when it was confirmed is kept');
$r = http_request(port => $t->port, method => 'POST', path => $link);
is($r->status, 200, 'a second click: still fine');
ok(wait_until(sub { @{ letters_to('ann@example.com') } >= 2 }, timeout => 10),
   'the chain begins: the offer letter');
is(letters_to('ann@example.com')->[1]{text}, "Code $e{code}",
   'with the code kept since the subscription');
sleep 1;
is(scalar @{ letters_to('ann@example.com') }, 2, 'one chain, one letter');

# a link for an address that was never subscribed
$r = http_request(port => $t->port, method => 'POST',
                  path => confirm_link('nobody@example.com', time + 3600));
is($r->status, 404, 'unknown address: 404');

$t->done;
