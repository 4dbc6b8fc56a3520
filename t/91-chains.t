# The letters: a subscription starts the offer chain, whose letters go
# out through the provider (the local fake ESP, in SendGrid's format)
# from the nginx workers: the first at once with the code the widget
# showed, a reminder after the wait; the chain stops when the code is
# used; a provider's 5xx is retried, a 400 goes to the dead letters,
# which the admin location lists and retries.
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
$t->write_file('products.json', <<'EOF');
[{"sku": "TEA-1", "name": "Sencha <green>", "price": "12.50",
  "url": "http://shop.example/p/TEA-1"}]
EOF
$t->write_file('chains.json', <<'EOF');
{
  "defaults": {
    "from_name": "Test Shop", "from_email": "shop@example.com",
    "shop_name": "Test Shop", "shop_address": "1 Test Road",
    "shop_url": "http://127.0.0.1:8080"
  },
  "letters": {
    "offer": {
      "subject": "{{{discount}}} off: {{{code}}}",
      "html": "<p>Code <b>{{code}}</b> until {{expires}}</p>{{#items}}<a href=\"{{url}}\">{{name}}</a>{{/items}}<a href=\"{{unsubscribe_url}}\">unsubscribe</a>",
      "text": "Code {{{code}}}\nUnsubscribe: {{{unsubscribe_url}}}"
    },
    "reminder": {
      "subject": "Still yours: {{{code}}}",
      "text": "Code {{{code}}}\nUnsubscribe: {{{unsubscribe_url}}}"
    }
  },
  "chains": [
    { "name": "offer", "trigger": "code_issued",
      "exit": ["code_used", "purchased", "unsubscribed"],
      "steps": [ { "send": "offer" }, { "wait": "2s" },
                 { "send": "reminder" } ] }
  ]
}
EOF

$t->start_nginx(workers => 2, http => <<'EOF');
    %%TRIGGER_BASE%%
    trigger_products %%TMP%%/products.json;
    trigger_chains %%TMP%%/chains.json;
    trigger_esp sendgrid key=test-key url=http://127.0.0.1:%%ESP_PORT%%;
    trigger_sender_backoff 1s;

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        trigger on;
        trigger_offer on;
        trigger_offer_min_depth 1;
        trigger_offer_min_duration 0;
        trigger_offer_require_items off;

        location = /buy {
            trigger_purchase $arg_order 10 $arg_promo;
            try_files /index.html =404;
        }
        location = /p {
            trigger_view $arg_sku;
            try_files /index.html =404;
        }
        location /_trigger/ {
            trigger_api;
        }
        location /_admin/ {
            trigger_admin;
        }
    }
EOF

sub subscribe {
    my ($v, $email) = @_;
    my ($json) = $v->get('/index.html')->body
        =~ m{id="trg-offer">(.*?)</script>}s or return;
    ok(json_decode($json)->{mail}, 'the widget may promise a letter')
        if $email eq 'ann@example.com';
    my $r = $v->post('/_trigger/subscribe',
                     json_encode({ token => json_decode($json)->{token},
                                   email => $email }));
    return $r->json;
}

sub letters_to {
    my ($email) = @_;
    return [grep { grep { $_ eq $email } @{ $_->{to} || [] } }
            @{ $t->esp_messages || [] }];
}

sub admin {
    my ($method, $path) = @_;
    return http_request(port => $t->port, method => $method,
                        path => "/_admin/$path")->json;
}

# the offer chain, end to end
my $v = $t->visitor;
$v->get('/p?sku=TEA-1');
my $answer = subscribe($v, 'ann@example.com');
my $code = $answer->{code};
ok($code, 'subscribed, a code shown');

ok(wait_until(sub { @{ letters_to('ann@example.com') } >= 1 }, timeout => 10),
   'the offer letter arrives');
my $letter = letters_to('ann@example.com')->[0];
is($letter->{provider}, 'sendgrid', 'through the provider');
is($letter->{subject}, "10% off: $code", 'the subject has the code');
like($letter->{html}, qr{Code <b>\Q$code\E</b>}, 'the same code as the widget');
like($letter->{html}, qr{Sencha &lt;green&gt;}, 'the viewed product, escaped');
like($letter->{text}, qr/^Code \Q$code\E$/m, 'a text part');
my %h = map { lc($_->[0]) => $_->[1] } @{ $letter->{headers_list}
                                          || [map { [$_, $letter->{headers}{$_}] }
                                              keys %{ $letter->{headers} || {} }] };
like($h{'list-unsubscribe'} // '', qr{^<http://127\.0\.0\.1:8080/_trigger/unsubscribe\?e=[0-9a-f]{40}&t=},
     'RFC 8058 List-Unsubscribe');
is($h{'list-unsubscribe-post'}, 'List-Unsubscribe=One-Click',
   'List-Unsubscribe-Post');

my $sha = sha1_hex('ann@example.com');
my $id = "$sha:offer";
# recorded once the provider's answer is in: just after the letter
my $records;
ok(wait_until(sub {
    $records = [$t->redis->keys($t->key_prefix . "letter:$id:*")];
    @$records;
}), 'the letter is recorded');
is(scalar @$records, 1, 'once');
my %rec = @{ $t->redis->hgetall($records->[0]) };
is($rec{letter}, 'offer', 'which letter');
ok($rec{id}, "the provider's message id ($rec{id})");
is($t->redis->get($t->key_prefix . "msg:$rec{id}"), $records->[0],
   "found by the provider's id, for the webhooks");

ok(wait_until(sub { @{ letters_to('ann@example.com') } >= 2 }, timeout => 15),
   'the reminder after the wait');
is(letters_to('ann@example.com')->[1]{subject}, "Still yours: $code",
   'the reminder');
ok(wait_until(sub { !$t->redis->exists($t->key_prefix . "job:$id") }),
   'the chain ended');
sleep 1;
is(scalar @{ letters_to('ann@example.com') }, 2, 'each letter once');

# the code used: no reminder
my $w = $t->visitor;
my $code2 = subscribe($w, 'bob@example.com')->{code};
ok(wait_until(sub { @{ letters_to('bob@example.com') } >= 1 }, timeout => 10),
   'bob: the offer letter');
$w->get("/buy?order=B1&promo=$code2");
ok(wait_until(sub { !$t->redis->exists($t->key_prefix . 'job:'
                                       . sha1_hex('bob@example.com')
                                       . ':offer') }, timeout => 10),
   'the code used: the chain ends');
is(scalar @{ letters_to('bob@example.com') }, 1, 'no reminder');

# a 5xx is retried, and the letter goes out once
http_post($t->port('ESP_PORT'), '/_control/fail',
          json_encode({ provider => 'sendgrid', mode => '5xx', count => 1 }));
subscribe($t->visitor, 'carol@example.com');
ok(wait_until(sub { @{ letters_to('carol@example.com') } >= 1 }, timeout => 15),
   'after a 5xx: sent on the retry');
ok($t->grep_log(qr/try 1 again/), 'the retry is logged');

# a refused key (401) is final: the dead letters, and the admin's retry
is_deeply(admin('GET', 'dead'), { dead => [] }, 'no dead letters yet');
http_post($t->port('ESP_PORT'), '/_control/fail',
          json_encode({ provider => 'sendgrid', mode => 'auth', count => 1 }));
subscribe($t->visitor, 'dan@example.com');
my $dead;
ok(wait_until(sub { $dead = admin('GET', 'dead'); @{ $dead->{dead} || [] } },
              timeout => 10), 'a 400: a dead letter');
is($dead->{dead}[0]{job}, sha1_hex('dan@example.com') . ':offer',
   'the admin lists it');
like($dead->{dead}[0]{error} // '', qr/401/, "with the provider's answer");
is(admin('POST', 'retry')->{retried}, 1, 'the admin retries it');
ok(wait_until(sub { @{ letters_to('dan@example.com') } >= 1 }, timeout => 10),
   'and it goes out');

my $q = admin('GET', 'queue');
ok(defined $q->{queued} && defined $q->{dead}, 'the queue, as JSON');
my $c = admin('GET', 'contact?email=Dan%40Example.com');
is($c->{record}{email}, 'dan@example.com', "a contact's record");
is($c->{jobs}[0]{chain}, 'offer', 'and its chain');

$t->allow_log(qr/refused by the provider|try \d+ again/);
$t->done;
