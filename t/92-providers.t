# Every provider profile end to end: a subscription's offer letter goes
# out through sendgrid, mailgun, postmark, brevo, unisender_go and smtp
# (with and without AUTH) to the local fake ESP, which takes each in the
# provider's own wire format.  Per profile: the sender and its non-ASCII
# name, the recipient, the subject with the code, both parts, the RFC
# 8058 headers, the metadata the provider gives back in its webhooks, the
# idempotency key where the provider has one, and in Redis the letter's
# record with the provider's message id; a 429 is retried after its
# Retry-After.  Over SMTP a 451 is retried and a 550 is a dead letter.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TriggerTest;
use Digest::SHA qw(sha1_hex);
use MIME::Base64 qw(encode_base64);

my $t = TriggerTest->new->require_module;
$t->start_redis;
$t->start_esp;

my $SHOP = 'Чайная лавка';

$t->write_file('html/index.html', "<html><body>shop</body></html>\n");
$t->write_file('products.json', <<'EOF');
[{"sku": "TEA-1", "name": "Sencha", "price": "12.50",
  "url": "http://shop.example/p/TEA-1"}]
EOF
my $chains = <<'EOF';
{
  "defaults": {
    "from_name": "Чайная лавка", "from_email": "shop@example.com",
    "shop_name": "Чайная лавка", "shop_address": "1 Test Road",
    "shop_url": "http://127.0.0.1:8080"
  },
  "letters": {
    "offer": {
      "subject": "Скидка {{{discount}}}: {{{code}}}",
      "html": "<p>Код <b>{{code}}</b></p><a href=\"{{unsubscribe_url}}\">unsubscribe</a>",
      "text": "Ваш код {{{code}}}\nUnsubscribe: {{{unsubscribe_url}}}"
    }
  },
  "chains": [
    { "name": "offer", "trigger": "code_issued",
      "steps": [ { "send": "offer" } ] }
  ]
}
EOF
$t->write_file('chains.json', $chains);

sub start_with {
    my ($esp) = @_;
    $t->stop_nginx;
    $t->redis->flushdb;
    $t->start_nginx(http => <<"EOF");
    %%TRIGGER_BASE%%
    trigger_products %%TMP%%/products.json;
    trigger_chains %%TMP%%/chains.json;
    trigger_esp $esp;
    trigger_sender_backoff 1s;

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
        location /_admin/ {
            trigger_admin;
        }
    }
EOF
}

# the widget's token flow, as in t/91-chains.t: the code it showed
sub subscribe {
    my ($email) = @_;
    my $v = $t->visitor;
    my ($json) = $v->get('/index.html')->body
        =~ m{id="trg-offer">(.*?)</script>}s or return;
    my $r = $v->post('/_trigger/subscribe',
                     json_encode({ token => json_decode($json)->{token},
                                   email => $email }));
    return ($r->json || {})->{code};
}

sub letters_to {
    my ($email) = @_;
    return [grep { grep { $_ eq $email } @{ $_->{to} || [] } }
            @{ $t->esp_messages || [] }];
}

sub fail_next {
    my (%rule) = @_;
    my $r = http_post($t->port('ESP_PORT'), '/_control/fail',
                      json_encode({ count => 1, %rule }));
    is($r->status, 200, "the fake ESP fails next: $rule{mode}");
}

sub admin {
    my ($path) = @_;
    return http_request(port => $t->port, path => "/_admin/$path")->json;
}

sub header {
    my ($letter, $name) = @_;
    my %h = map { lc($_) => $letter->{headers}{$_} }
            keys %{ $letter->{headers} || {} };
    return $h{lc $name};
}

# the letter's record in Redis and its key: sha1 of "job:started:pc"
sub record {
    my ($job) = @_;
    my $pre = $t->key_prefix;
    my @keys = $t->redis->keys("${pre}letter:$job:*");
    return unless @keys == 1;
    my %rec = @{ $t->redis->hgetall($keys[0]) };
    (my $name = $keys[0]) =~ s/^\Q${pre}letter:\E//;
    return ($keys[0], \%rec, sha1_hex($name));
}

# Brevo's idempotency key: the key's SHA-1 laid out as a version 5 UUID
sub brevo_uuid {
    my ($key) = @_;
    my $h = sha1_hex($key);
    substr($h, 12, 1) = '5';
    substr($h, 16, 1) = (qw(8 9 a b))[hex(substr($h, 16, 1)) & 3];
    return join '-', unpack 'A8 A4 A4 A4 A12', $h;
}

# one offer letter through the profile: what the provider got, and what
# Redis keeps of it; returns the letter and its record
sub offer_letter {
    my ($name, $email, %o) = @_;
    my $code = subscribe($email);
    ok($code, "$name: subscribed, a code shown");
    ok(wait_until(sub { @{ letters_to($email) } }, timeout => 10),
       "$name: the offer letter arrives");
    my $letter = letters_to($email)->[0] or return;

    is($letter->{provider}, $o{provider} // $name, "$name: the provider");
    is($letter->{from}, 'shop@example.com', "$name: from");
    is($letter->{from_name}, $SHOP, "$name: the sender's name, intact");
    is_deeply($letter->{to}, [$email], "$name: to");
    is($letter->{subject}, "Скидка 10%: $code",
       "$name: the subject with the code, intact");
    like($letter->{html} // '', qr{<p>Код <b>\Q$code\E</b></p>},
         "$name: the HTML part");
    like($letter->{text} // '', qr/^Ваш код \Q$code\E$/m,
         "$name: the text part");
    like(header($letter, 'List-Unsubscribe') // '',
         qr{^<http://127\.0\.0\.1:8080/_trigger/unsubscribe\?e=[0-9a-f]{40}&t=[^>]+>$},
         "$name: List-Unsubscribe");
    is(header($letter, 'List-Unsubscribe-Post'), 'List-Unsubscribe=One-Click',
       "$name: List-Unsubscribe-Post");

    # recorded once the provider's answer is in: just after the letter
    my $job = sha1_hex($email) . ':offer';
    my ($key, $rec, $idem);
    wait_until(sub { ($key, $rec, $idem) = record($job); $key });
    ok($key, "$name: the letter's record") or return $letter;
    is($rec->{letter}, 'offer', "$name: the record names the letter");
    is($rec->{provider}, $name, "$name: and the provider");
    ok(length($rec->{id} // ''), "$name: the provider's message id ("
       . ($rec->{id} // '') . ')');
    is($t->redis->get($t->key_prefix . "msg:$rec->{id}"), $key,
       "$name: the provider's id leads to the record");

    if ($name ne 'smtp') {
        is_deeply($letter->{metadata}, { job => $job, letter => 'offer' },
                  "$name: the metadata its webhooks give back");
        is($rec->{id}, $letter->{message_id},
           "$name: the id is the one the provider answered");
    }

    return ($letter, $rec, $idem, $code);
}

# a 429 with Retry-After: retried after that delay, not the backoff
sub rate_limited {
    my ($name, $email, %o) = @_;
    fail_next(provider => $o{provider} // $name, mode => '429',
              retry_after => 2);
    subscribe($email);
    ok(wait_until(sub { @{ letters_to($email) } }, timeout => 10),
       "$name: after a 429, delivered on the retry");
    my $job = sha1_hex($email) . ':offer';
    ok($t->grep_log(qr/to job "\Q$job\E": HTTP 429 .*try 1 again in 2 s/),
       "$name: retried after its Retry-After");
    is(scalar @{ letters_to($email) }, 1, "$name: once");
}

my $esp = 'key=test-key url=http://127.0.0.1:%%ESP_PORT%%';
my ($letter, $rec, $idem, $body);

# SendGrid: custom_args, no idempotency key, the id in X-Message-Id
start_with("sendgrid $esp");
($letter, $rec, $idem) = offer_letter('sendgrid', 'ann-sendgrid@example.com');
$body = json_decode($letter->{request}{body});
is($letter->{request}{path}, '/v3/mail/send', 'sendgrid: the endpoint');
is($letter->{request}{headers}{Authorization}, 'Bearer test-key',
   'sendgrid: Bearer');
is_deeply($body->{custom_args}, $letter->{metadata},
          'sendgrid: the metadata as custom_args');
is_deeply([map { $_->{type} } @{ $body->{content} }],
          ['text/plain', 'text/html'], 'sendgrid: text/plain first');
is($body->{from}{name}, $SHOP, 'sendgrid: the name as JSON, not encoded');
rate_limited('sendgrid', 'bob-sendgrid@example.com');

# Mailgun: a multipart form to the domain's path, v: variables
start_with("mailgun $esp domain=mg.example.com");
($letter, $rec, $idem) = offer_letter('mailgun', 'ann-mailgun@example.com');
is($letter->{request}{path}, '/v3/mg.example.com/messages',
   'mailgun: the domain\'s endpoint');
is($letter->{request}{headers}{Authorization},
   'Basic ' . encode_base64('api:test-key', ''), 'mailgun: Basic api:key');
like($letter->{request}{headers}{'Content-Type'},
     qr{^multipart/form-data; boundary=}, 'mailgun: a multipart form');
like($rec->{id}, qr/^<.+\@mg\.example\.com>$/, 'mailgun: its id');
rate_limited('mailgun', 'bob-mailgun@example.com');

# Postmark: Metadata, the message stream, MessageID in the body
start_with("postmark $esp stream=broadcast");
($letter, $rec, $idem) = offer_letter('postmark', 'ann-postmark@example.com');
$body = json_decode($letter->{request}{body});
is($letter->{request}{path}, '/email', 'postmark: the endpoint');
is($letter->{request}{headers}{'X-Postmark-Server-Token'}, 'test-key',
   'postmark: the server token');
is($body->{MessageStream}, 'broadcast', 'postmark: the message stream');
is_deeply($body->{Metadata}, $letter->{metadata},
          'postmark: the metadata as Metadata');
rate_limited('postmark', 'bob-postmark@example.com');

# Brevo: the idempotency key as a UUID, the metadata as X-Mailin-custom
start_with("brevo $esp");
($letter, $rec, $idem) = offer_letter('brevo', 'ann-brevo@example.com');
$body = json_decode($letter->{request}{body});
is($letter->{request}{path}, '/v3/smtp/email', 'brevo: the endpoint');
is($letter->{request}{headers}{'api-key'}, 'test-key', 'brevo: api-key');
is($letter->{idempotency_key}, brevo_uuid($idem),
   'brevo: the letter\'s idempotency key, as a UUID');
is_deeply(json_decode($body->{headers}{'X-Mailin-custom'}),
          $letter->{metadata}, 'brevo: the metadata as X-Mailin-custom');
like($rec->{id}, qr/^<.+>$/, 'brevo: its messageId');
rate_limited('brevo', 'bob-brevo@example.com');

# UniSender Go: region= is the account's host, always https; url= puts
# the same API on the fake
start_with("unisender_go $esp region=go1.unisender.ru");
($letter, $rec, $idem) = offer_letter('unisender_go',
                                      'ann-unisender@example.com');
$body = json_decode($letter->{request}{body});
is($letter->{request}{path}, '/ru/transactional/api/v1/email/send.json',
   'unisender_go: the endpoint');
is($letter->{request}{headers}{'X-API-KEY'}, 'test-key',
   'unisender_go: X-API-KEY');
is($letter->{idempotency_key}, $idem,
   'unisender_go: the letter\'s idempotence_key');
is_deeply($body->{message}{recipients}[0]{metadata}, $letter->{metadata},
          'unisender_go: the recipient\'s metadata');
is($rec->{id}, $letter->{message_id}, 'unisender_go: its job_id');
rate_limited('unisender_go', 'bob-unisender@example.com');

# the JSON profile: the body is the admin's template, its values
# escaped for JSON strings (the subject's quotes, the HTML's)
$t->write_file('body.json', <<'EOF');
{"from": {"email": "shop@example.com", "name": "{{shop_name}}"},
 "to": "{{email}}", "subject": "{{subject}}", "html": "{{html}}",
 "text": "{{text}}",
 "headers": {"List-Unsubscribe": "<{{unsubscribe_url}}>",
             "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
 "metadata": {"job": "{{metadata.job}}", "letter": "{{metadata.letter}}"}}
EOF
my ($ok, $out) = $t->nginx_t(http => <<'EOF');
    %%TRIGGER_BASE%%
    trigger_chains %%TMP%%/chains.json;
    trigger_esp json url=http://127.0.0.1:%%ESP_PORT%%/json/send;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /_trigger/ { trigger_api; }
    }
EOF
ok(!$ok, 'json: without body=, refused by nginx -t');
like($out, qr/"trigger_esp json" needs body=file/, 'json: says why');

start_with('json key=test-key url=http://127.0.0.1:%%ESP_PORT%%/json/send '
           . 'body=%%TMP%%/body.json');
($letter, $rec, $idem) = offer_letter('json', 'ann-json@example.com',
                                      provider => 'generic');
is($letter->{idempotency_key}, $idem, 'json: the Idempotency-Key header');
is($letter->{metadata}{job}, sha1_hex('ann-json@example.com') . ':offer',
   'json: the metadata the template carries');

# SMTP without AUTH: the whole message, Message-ID of the key
start_with('smtp url=smtp://127.0.0.1:%%ESP_SMTP_PORT%%');
($letter, $rec, $idem) = offer_letter('smtp', 'ann-smtp@example.com');
is($rec->{id}, "<$idem\@example.com>", 'smtp: the Message-ID is the key');
is(header($letter, 'Message-ID'), $rec->{id},
   'smtp: the message carries it');
is($letter->{request}{mail_from}, 'shop@example.com', 'smtp: MAIL FROM');
is_deeply($letter->{request}{rcpt_to}, ['ann-smtp@example.com'],
          'smtp: RCPT TO');
like($letter->{request}{data}, qr/^From: =\?UTF-8\?B\?/m,
     'smtp: the name as encoded-words');
like($letter->{request}{data}, qr/^Subject: =\?UTF-8\?B\?/m,
     'smtp: the subject as encoded-words');
ok(!grep({ length > 998 } split /\r\n/, $letter->{request}{data}),
   'smtp: no line over 998 characters');

# libcurl fails a transfer whose DATA gets no 250, and the sender then
# retries without reading the reply (ngx_http_trigger_sender_done):
# a 4xx reply is retried, a 5xx is final

# 451: transient, retried
fail_next(provider => 'smtp', mode => '451');
subscribe('bob-smtp@example.com');
ok(wait_until(sub { @{ letters_to('bob-smtp@example.com') } }, timeout => 10),
   'smtp: after a 451, delivered on the retry');
my $job = sha1_hex('bob-smtp@example.com') . ':offer';
ok($t->grep_log(qr/to job "\Q$job\E": .*; try 1 again in 1 s/),
   'smtp: the 451 is retried after the backoff');
ok($t->grep_log(qr/to job "\Q$job\E": SMTP 451/),
   'smtp: the reply is logged');

# 550: permanent, a dead letter
fail_next(provider => 'smtp', mode => '550');
subscribe('carol-smtp@example.com');
my $dead;
wait_until(sub { $dead = admin('dead'); @{ $dead->{dead} || [] }
                 || @{ letters_to('carol-smtp@example.com') } },
           timeout => 10);
is($dead->{dead}[0]{job}, sha1_hex('carol-smtp@example.com') . ':offer',
   'smtp: a 550 makes a dead letter, the admin lists it');
like($dead->{dead}[0]{error} // '', qr/SMTP 550/, 'smtp: with the reply');
is(scalar @{ letters_to('carol-smtp@example.com') }, 0,
   'smtp: nothing delivered');

# SMTP with AUTH: the fake now requires the login
$t->stop_esp;
$t->start_esp(args => ['--smtp-user', 'shop',
                       '--smtp-password', 'smtp-secret']);
start_with('smtp url=smtp://127.0.0.1:%%ESP_SMTP_PORT%% user=shop '
           . 'key=smtp-secret');
($letter, $rec, $idem) = offer_letter('smtp', 'ann-auth@example.com');
is($rec->{id}, "<$idem\@example.com>", 'smtp AUTH: the Message-ID');

$t->allow_log(qr/refused by the provider|try \d+ again/);
$t->done;
