# The local ESP (esp/fake-esp) that the chain sender's tests and the demo
# send to: each provider's request format, auth and answer; idempotent
# repeats; SMTP; injected faults; the mailbox page; webhooks back, signed
# as each provider signs them.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TriggerTest;
use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(hmac_sha256_hex);
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64 decode_base64);
use POSIX qw(_exit);

plan skip_all => 'python3 is not installed'
    unless system('python3 -c 1 >/dev/null 2>&1') == 0;

# the published SendGrid test key signs the webhooks when it is at hand,
# so its known public half checks the signing code too
my $vectors = $ENV{ESP_TEST_VECTORS}
    // '/work/shared/test-vectors/esp-webhooks';
my $sg_vector = -f "$vectors/sendgrid.json" ? "$vectors/sendgrid.json" : undef;

my $t = TriggerTest->new;
$t->start_esp(args => [
    '--key', 'sendgrid=SG.test', '--key', 'test-key',
    '--smtp-user', 'shop', '--smtp-password', 's3cret',
    '--mailgun-signing-key', 'mg-signing',
    ($sg_vector ? ('--sendgrid-private-key', $sg_vector) : ())]);
my $port = $t->port('ESP_PORT');
my $smtp_port = $t->port('ESP_SMTP_PORT');

is($t->read_file('esp.log'),
   "fake-esp: http on 127.0.0.1:$port, smtp on 127.0.0.1:$smtp_port\n",
   'one start-up line with both ports');

sub req {
    my (%o) = @_;
    return http_request(port => $port, %o);
}

sub post_json {
    my ($path, $body, @headers) = @_;
    return req(method => 'POST', path => $path,
               body => ref $body ? json_encode($body) : $body,
               headers => [['Content-Type', 'application/json'], @headers]);
}

sub control {
    my ($what, $body, $method) = @_;
    return req(method => $method // 'POST', path => "/_control/$what",
               defined $body ? (body => json_encode($body),
                   headers => [['Content-Type', 'application/json']]) : ());
}

sub multipart {
    my (@fields) = @_;
    my $b = 'fake-esp-test-boundary';
    my $body = '';
    while (my ($k, $v) = splice @fields, 0, 2) {
        $body .= "--$b\r\nContent-Disposition: form-data; name=\"$k\"\r\n\r\n"
               . "$v\r\n";
    }
    return ("multipart/form-data; boundary=$b", "$body--$b--\r\n");
}

sub basic { 'Basic ' . encode_base64(shift, '') }

# ------------------------------------------------------------- SendGrid

# the v3 Mail Send example, with an HTML part, headers and custom_args
my $sendgrid = {
    personalizations => [{
        to => [{ email => 'john.doe@example.com', name => 'John Doe' }],
        subject => 'Hello, World!',
        custom_args => { step => '1' },
    }],
    content => [{ type => 'text/plain', value => 'Heya!' },
                { type => 'text/html', value => '<p>Heya!</p>' }],
    from => { email => 'sam.smith@example.com', name => 'Sam Smith' },
    reply_to => { email => 'sam.smith@example.com', name => 'Sam Smith' },
    headers => { 'List-Unsubscribe' => '<https://shop.example/u/1>',
                 'List-Unsubscribe-Post' => 'List-Unsubscribe=One-Click' },
    custom_args => { chain => 'welcome' },
    categories => ['chain'],
};
my $sg_auth = ['Authorization', 'Bearer SG.test'];
my $r = post_json('/v3/mail/send', $sendgrid, $sg_auth);
is($r->status, 202, 'SendGrid: 202');
is($r->body, '', 'SendGrid: empty body');
my $sg_id = $r->header('X-Message-Id') // '';
like($sg_id, qr/^[A-Za-z0-9_-]{22}$/, 'SendGrid: X-Message-Id');

$r = post_json('/v3/mail/send', $sendgrid,
               ['Authorization', 'Bearer SG.wrong']);
is($r->status, 401, 'SendGrid: a wrong key gets 401');
like($r->json->{errors}[0]{message}, qr/authorization grant is invalid/,
     'SendGrid: its error body');
$r = post_json('/v3/mail/send', $sendgrid);
is($r->status, 401, 'SendGrid: no key gets 401');
is($r->json->{errors}[0]{message}, 'authorization required',
   'SendGrid: authorization required');
$r = post_json('/v3/mail/send', { %$sendgrid, personalizations => [] },
               $sg_auth);
is($r->status, 400, 'SendGrid: no personalization is a 400');
is($r->json->{errors}[0]{field}, 'personalizations',
   'SendGrid: names the field');

my ($m) = @{ $t->esp_messages(to => 'john.doe@example.com') };
is($m->{provider}, 'sendgrid', 'SendGrid: the letter is kept');
is($m->{message_id}, $sg_id, 'SendGrid: under its X-Message-Id');
is($m->{from}, 'sam.smith@example.com', 'SendGrid: from');
is($m->{from_name}, 'Sam Smith', 'SendGrid: from name');
is($m->{subject}, 'Hello, World!', 'SendGrid: subject');
is($m->{text}, 'Heya!', 'SendGrid: text');
is($m->{html}, '<p>Heya!</p>', 'SendGrid: html');
is($m->{headers}{'List-Unsubscribe'}, '<https://shop.example/u/1>',
   'SendGrid: headers');
is_deeply($m->{metadata}, { chain => 'welcome', step => '1' },
          'SendGrid: custom_args merged');
is($m->{request}{headers}{Authorization}, 'Bearer SG.test',
   'SendGrid: the raw request is kept');

# -------------------------------------------------------------- Mailgun

my ($ctype, $form) = multipart(
    from => 'Excited User <mailgun@mg.example.com>',
    to => 'bar@example.com', to => 'you@mg.example.com',
    subject => 'Hello', text => 'Testing some Mailgun awesomeness!',
    html => '<p>Testing some Mailgun awesomeness!</p>',
    'h:List-Unsubscribe' => '<mailto:u@mg.example.com>',
    'v:chain' => 'cart', 'o:tag' => 'chain');
$r = req(method => 'POST', path => '/v3/mg.example.com/messages', body => $form,
         headers => [['Content-Type', $ctype],
                     ['Authorization', basic('api:test-key')]]);
is($r->status, 200, 'Mailgun multipart: 200');
my $mg = $r->json;
like($mg->{id}, qr/^<\d{14}\.1\.[0-9A-F]{16}\@mg\.example\.com>$/,
     'Mailgun: id in angle brackets, on the domain');
is($mg->{message}, 'Queued. Thank you.', 'Mailgun: Queued. Thank you.');
($m) = @{ $t->esp_messages(to => 'you@mg.example.com') };
is_deeply($m->{to}, ['bar@example.com', 'you@mg.example.com'],
          'Mailgun: both to fields');
is($m->{from_name}, 'Excited User', 'Mailgun: from name');
is($m->{html}, '<p>Testing some Mailgun awesomeness!</p>', 'Mailgun: html');
is($m->{headers}{'List-Unsubscribe'}, '<mailto:u@mg.example.com>',
   'Mailgun: h: fields are headers');
is_deeply($m->{metadata}, { chain => 'cart' },
          'Mailgun: v: fields are variables');
is_deeply($m->{tags}, ['chain'], 'Mailgun: o:tag');

$r = req(method => 'POST', path => '/v3/mg.example.com/messages',
         body => 'from=shop%40mg.example.com&to=urlenc%40example.com'
               . '&subject=Hi&text=Hello+there',
         headers => [['Content-Type', 'application/x-www-form-urlencoded'],
                     ['Authorization', basic('api:test-key')]]);
is($r->status, 200, 'Mailgun urlencoded: 200');
is($t->esp_messages(to => 'urlenc@example.com')->[0]{text}, 'Hello there',
   'Mailgun urlencoded: decoded');

$r = req(method => 'POST', path => '/v3/mg.example.com/messages', body => $form,
         headers => [['Content-Type', $ctype],
                     ['Authorization', basic('api:wrong')]]);
is($r->status, 401, 'Mailgun: a wrong key gets 401');
is($r->body, 'Forbidden', 'Mailgun: Forbidden');
$r = req(method => 'POST', path => '/v3/mg.example.com/messages',
         body => 'from=a%40b.example&text=x',
         headers => [['Content-Type', 'application/x-www-form-urlencoded'],
                     ['Authorization', basic('api:test-key')]]);
is($r->status, 400, 'Mailgun: no to is a 400');
is($r->json->{message}, 'to parameter is missing', 'Mailgun: its message');

# ------------------------------------------------------------- Postmark

my $postmark = {
    From => 'sender@example.com', To => 'receiver@example.com',
    Subject => 'Postmark test', TextBody => 'Hello dear Postmark user.',
    HtmlBody => '<html><body><strong>Hello</strong> dear Postmark user.'
              . '</body></html>',
    MessageStream => 'outbound', Tag => 'chain',
    Headers => [{ Name => 'List-Unsubscribe',
                  Value => '<https://pm.example/u>' }],
    Metadata => { chain => 'browse' },
};
$r = post_json('/email', $postmark, ['X-Postmark-Server-Token', 'test-key']);
is($r->status, 200, 'Postmark: 200');
my $pm = $r->json;
is($pm->{ErrorCode}, 0, 'Postmark: ErrorCode 0');
is($pm->{Message}, 'OK', 'Postmark: OK');
is($pm->{To}, 'receiver@example.com', 'Postmark: To');
like($pm->{MessageID}, qr/^[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}$/,
     'Postmark: MessageID');
like($pm->{SubmittedAt}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/,
     'Postmark: SubmittedAt');
($m) = @{ $t->esp_messages(to => 'receiver@example.com') };
is_deeply($m->{metadata}, { chain => 'browse' }, 'Postmark: Metadata');
is($m->{headers}{'List-Unsubscribe'}, '<https://pm.example/u>',
   'Postmark: Headers');
$r = post_json('/email', $postmark, ['X-Postmark-Server-Token', 'wrong']);
is($r->status, 401, 'Postmark: a wrong token gets 401');
is($r->json->{ErrorCode}, 10, 'Postmark: ErrorCode 10');

# ---------------------------------------------------------------- Brevo

# the idempotency example from Brevo's documentation
my $brevo = {
    sender => { name => 'Ann', email => 'example@brevo.com' },
    to => [{ email => 'example2@brevo.com', name => 'Jenny' }],
    headers => { idempotencyKey => 'b52dbf-81dd-4a08-b807-085c',
                 'X-Mailin-custom' => '{"chain":"winback"}' },
    subject => 'This is a unique email',
    htmlContent => '<p>Hello Jenny</p>',
};
$r = post_json('/v3/smtp/email', $brevo, ['api-key', 'test-key']);
is($r->status, 201, 'Brevo: 201');
my $brevo_id = $r->json->{messageId} // '';
like($brevo_id, qr/^<\d{12}\.\d{12}\@smtp-relay\.mailin\.fr>$/,
     'Brevo: messageId');
$r = post_json('/v3/smtp/email', $brevo, ['api-key', 'test-key']);
is($r->status, 400, 'Brevo: the same idempotencyKey again is refused');
is($r->json->{code}, 'duplicate_parameter', 'Brevo: duplicate_parameter');
my $brevo_msgs = $t->esp_messages(to => 'example2@brevo.com');
is(scalar @$brevo_msgs, 1, 'Brevo: no second letter');
is($brevo_msgs->[0]{idempotency_key}, 'b52dbf-81dd-4a08-b807-085c',
   'Brevo: the key is kept with the letter');
is_deeply($brevo_msgs->[0]{metadata}, { chain => 'winback' },
          'Brevo: X-Mailin-custom is the metadata');
$r = post_json('/v3/smtp/email', $brevo, ['api-key', 'wrong']);
is($r->status, 401, 'Brevo: a wrong key gets 401');
is($r->json->{code}, 'unauthorized', 'Brevo: unauthorized');

# --------------------------------------------------------- UniSender Go

my $ugo = {
    idempotence_key => 'chain-42-step-1',
    message => {
        recipients => [{ email => 'user@example.com',
                         substitutions => { to_name => 'John Smith' },
                         metadata => { letter => '42' } }],
        body => { html => '<b>Hello, {{to_name}}</b>',
                  plaintext => 'Hello, {{to_name}}' },
        subject => 'Example subject',
        from_email => 'shop@example.com', from_name => 'Shop',
        headers => { 'List-Unsubscribe' => '<https://ugo.example/u>' },
        global_metadata => { chain => 'cart' },
        track_links => 1, track_read => 1,
    },
};
my $ugo_path = '/ru/transactional/api/v1/email/send.json';
$r = post_json($ugo_path, $ugo, ['X-API-KEY', 'test-key']);
is($r->status, 200, 'UniSender Go: 200');
my $ugo_answer = $r->body;
my $ugo_job = $r->json->{job_id} // '';
is($r->json->{status}, 'success', 'UniSender Go: success');
like($ugo_job, qr/^\w{6}-\w{6}-\w{2}$/, 'UniSender Go: job_id');
is_deeply($r->json->{emails}, ['user@example.com'], 'UniSender Go: emails');
$r = post_json($ugo_path, $ugo, ['X-API-KEY', 'test-key']);
is($r->status, 200, 'UniSender Go: the same idempotence_key again: 200');
is($r->body, $ugo_answer, 'UniSender Go: the first answer again');
my $ugo_msgs = $t->esp_messages(to => 'user@example.com');
is(scalar @$ugo_msgs, 1, 'UniSender Go: no second letter');
is_deeply($ugo_msgs->[0]{metadata}, { chain => 'cart', letter => '42' },
          'UniSender Go: global and recipient metadata');
$r = post_json($ugo_path,
               { %$ugo, idempotence_key => 'k2', api_key => 'test-key' });
is($r->status, 200, 'UniSender Go: the key may come in the body');
$r = post_json($ugo_path, $ugo, ['X-API-KEY', 'wrong']);
is($r->status, 401, 'UniSender Go: a wrong key gets 401');
is($r->json->{status}, 'error', 'UniSender Go: status error');

# -------------------------------------------------------------- generic

my $generic = { from => 'Shop <shop@example.com>', to => ['gen@example.com'],
                subject => 'Generic', text => 'plain', html => '<i>rich</i>',
                metadata => { chain => 'gen' } };
$r = post_json('/json/send', $generic, ['Authorization', 'Bearer test-key'],
               ['Idempotency-Key', 'gen-1']);
is($r->status, 200, 'generic: 200');
my $gen_id = $r->json->{id};
ok($gen_id, 'generic: an id');
$r = post_json('/json/send', $generic, ['Authorization', 'Bearer test-key'],
               ['Idempotency-Key', 'gen-1']);
is($r->json->{id}, $gen_id,
   'generic: a repeated Idempotency-Key gets the same id');
is(scalar @{ $t->esp_messages(to => 'gen@example.com') }, 1,
   'generic: no second letter');
$r = post_json('/json/send', $generic);
is($r->status, 401, 'generic: no key gets 401');

# --------------------------------------------------------- messages API

my $all = $t->esp_messages;
is_deeply([map { $_->{provider} } @$all],
          [qw(sendgrid mailgun mailgun postmark brevo unisender_go
              unisender_go generic)],
          'GET /messages: every letter, oldest first');
$r = req(path => "/messages/$all->[0]{id}");
is($r->json->{message_id}, $sg_id, 'GET /messages/ID');
$r = req(path => '/messages/' . $mg->{id});
is($r->json->{provider}, 'mailgun', 'GET /messages/<provider id>');
is(req(path => '/messages/nope')->status, 404, 'an unknown id is a 404');
is(scalar @{ $t->esp_messages(provider => 'mailgun') }, 2, '?provider=');

# ----------------------------------------------------------------- SMTP

sub smtp_open {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $smtp_port, Proto => 'tcp', Timeout => 5)
        or die "smtp connect: $!";
    $s->autoflush(1);
    return $s;
}

# one reply (all its lines): (code, text), or ('closed', '')
sub smtp_reply {
    my ($s) = @_;
    my $text = '';
    while (defined(my $line = <$s>)) {
        $text .= $line;
        return ($1, $text) if $line =~ /^(\d{3}) /;
    }
    return ('closed', $text);
}

sub smtp {
    my ($s, $line) = @_;
    print $s "$line\r\n";
    return smtp_reply($s);
}

my $letter = join "\r\n",
    'From: Kettle & Leaf <shop@kettle.example>',
    'To: anna@example.com',
    'Subject: Your cart, by SMTP',
    'List-Unsubscribe: <https://kettle.example/u/abc>',
    'X-Mailgun-Variables: {"chain":"smtp"}',
    'MIME-Version: 1.0',
    'Content-Type: multipart/alternative; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'first line',
    '..hidden line starts with a dot',
    'last line',
    '--b1',
    'Content-Type: text/html; charset=utf-8',
    '',
    '<p>Your <b>cart</b></p>',
    '--b1--',
    '';

my $s = smtp_open();
my ($code, $text) = smtp_reply($s);
is($code, 220, 'SMTP: greeting');
($code, $text) = smtp($s, 'EHLO client.example');
is($code, 250, 'SMTP: EHLO');
like($text, qr/^250-AUTH PLAIN LOGIN\r$/m, 'SMTP: AUTH offered');
($code) = smtp($s, 'MAIL FROM:<shop@kettle.example>');
is($code, 530, 'SMTP: MAIL before AUTH is refused');
($code) = smtp($s, 'AUTH PLAIN ' . encode_base64("\0shop\0wrong", ''));
is($code, 535, 'SMTP: a wrong password gets 535');
($code, $text) = smtp($s, 'AUTH LOGIN');
is($code, 334, 'SMTP: AUTH LOGIN asks');
is(decode_base64((split ' ', $text)[1]), 'Username:', 'SMTP: for the user');
($code, $text) = smtp($s, encode_base64('shop', ''));
is(decode_base64((split ' ', $text)[1]), 'Password:', 'SMTP: for the password');
($code) = smtp($s, encode_base64('s3cret', ''));
is($code, 235, 'SMTP: authenticated');
is((smtp($s, 'MAIL FROM:<shop@kettle.example>'))[0], 250, 'SMTP: MAIL FROM');
is((smtp($s, 'RCPT TO:<anna@example.com>'))[0], 250, 'SMTP: RCPT TO');
is((smtp($s, 'RCPT TO:<bob@example.com>'))[0], 250, 'SMTP: a second RCPT TO');
is((smtp($s, 'DATA'))[0], 354, 'SMTP: DATA');
print $s $letter;
($code, $text) = smtp($s, '.');
is($code, 250, 'SMTP: accepted');
my ($queue_id) = $text =~ /queued as (\S+)/;
ok($queue_id, 'SMTP: with a queue id');
is((smtp($s, 'NOOP'))[0], 250, 'SMTP: NOOP');
is((smtp($s, 'RSET'))[0], 250, 'SMTP: RSET');
is((smtp($s, 'RCPT TO:<x@example.com>'))[0], 503,
   'SMTP: RCPT after RSET needs MAIL');
is((smtp($s, 'QUIT'))[0], 221, 'SMTP: QUIT');
close $s;

($m) = @{ $t->esp_messages(to => 'bob@example.com') };
is($m->{provider}, 'smtp', 'SMTP: the letter is kept');
is($m->{message_id}, $queue_id, 'SMTP: under its queue id');
is_deeply($m->{to}, ['anna@example.com', 'bob@example.com'],
          'SMTP: envelope recipients');
is($m->{from}, 'shop@kettle.example', 'SMTP: envelope sender');
is($m->{subject}, 'Your cart, by SMTP', 'SMTP: subject');
is($m->{text}, "first line\n.hidden line starts with a dot\nlast line",
   'SMTP: text part, dot-unstuffed');
is($m->{html}, '<p>Your <b>cart</b></p>', 'SMTP: html part');
is($m->{headers}{'List-Unsubscribe'}, '<https://kettle.example/u/abc>',
   'SMTP: headers');
is_deeply($m->{metadata}, { chain => 'smtp' }, 'SMTP: X-Mailgun-Variables');

# an authenticated session that sends one short letter: the final reply
sub smtp_send {
    my ($rcpt) = @_;
    my $s = smtp_open();
    smtp_reply($s);
    smtp($s, 'HELO client.example');
    smtp($s, 'AUTH PLAIN ' . encode_base64("\0shop\0s3cret", ''));
    smtp($s, 'MAIL FROM:<shop@kettle.example>');
    smtp($s, "RCPT TO:<$rcpt>");
    smtp($s, 'DATA');
    print $s "Subject: fault test\r\n\r\nbody\r\n";
    my @reply = smtp($s, '.');
    return ($s, @reply);
}

# --------------------------------------------------------------- faults

$r = control('fail', { provider => 'sendgrid', mode => '5xx', count => 1,
                       status => 503 });
is($r->status, 200, 'fail: a rule is set');
$r = post_json('/v3/mail/send', $sendgrid, ['Authorization', 'Bearer SG.test']);
is($r->status, 503, '5xx: the next SendGrid request gets 503');
ok($r->json->{errors}, '5xx: in SendGrid\'s error format');
$r = post_json('/v3/mail/send', $sendgrid, ['Authorization', 'Bearer SG.test']);
is($r->status, 202, '5xx: count 1, then back to normal');
is(scalar @{ $t->esp_messages(provider => 'sendgrid') }, 2,
   '5xx: nothing kept from the failed request');

control('fail', { provider => 'postmark', mode => '429', count => 1,
                  retry_after => 7 });
$r = post_json('/email', $postmark, ['X-Postmark-Server-Token', 'test-key']);
is($r->status, 429, '429: Postmark rate limit');
is($r->header('Retry-After'), 7, '429: Retry-After');
is($r->json->{ErrorCode}, 429, '429: Postmark ErrorCode');

control('fail', { provider => '*', mode => 'drop', count => 1 });
$r = post_json('/v3/smtp/email',
               { %$brevo, headers => { idempotencyKey => 'drop-1' },
                 to => [{ email => 'dropped@example.com' }] },
               ['api-key', 'test-key']);
is($r->status, 0, 'drop: no answer');
is($r->raw, '', 'drop: not a byte');
is(scalar @{ $t->esp_messages(to => 'dropped@example.com') }, 0,
   'drop: nothing kept');

control('fail', { provider => 'mailgun', mode => 'auth', count => 1 });
$r = req(method => 'POST', path => '/v3/mg.example.com/messages', body => $form,
         headers => [['Content-Type', $ctype],
                     ['Authorization', basic('api:test-key')]]);
is($r->status, 401, 'auth: the right key is refused once');

# until cleared
control('fail', { provider => 'unisender_go', mode => '5xx' });
is(control('fail', undef, 'GET')->json->[0]{mode}, '5xx', 'GET /_control/fail');
is(post_json($ugo_path, { %$ugo, idempotence_key => 'u3' },
             ['X-API-KEY', 'test-key'])->status, 500, '5xx until cleared: 1');
is(post_json($ugo_path, { %$ugo, idempotence_key => 'u4' },
             ['X-API-KEY', 'test-key'])->status, 500, '5xx until cleared: 2');
is(control('fail', undef, 'DELETE')->status, 200, 'DELETE /_control/fail');
is(post_json($ugo_path, { %$ugo, idempotence_key => 'u5' },
             ['X-API-KEY', 'test-key'])->status, 200, 'cleared');
is(control('fail', { provider => 'nobody', mode => '5xx' })->status, 400,
   'an unknown provider is a 400');
is(control('fail', { provider => 'sendgrid', mode => '550' })->status, 400,
   '550 is for SMTP only');

# slow: the letter is taken, the answer is late, and nobody else waits
control('fail', { provider => 'generic', mode => 'slow', delay => 120,
                  count => 1 });
my $slow = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                 Proto => 'tcp') or die "connect: $!";
my $slow_body = json_encode({ %$generic, to => ['slow@example.com'] });
print $slow "POST /json/send HTTP/1.1\r\nHost: x\r\n"
    . "Authorization: Bearer test-key\r\nContent-Type: application/json\r\n"
    . 'Content-Length: ' . length($slow_body) . "\r\n\r\n$slow_body";
ok(wait_until(sub { @{ $t->esp_messages(to => 'slow@example.com') || [] } }),
   'slow: the letter is kept while its answer waits, and others are served');
close $slow;

# SMTP faults, at the end of DATA
control('fail', { provider => 'smtp', mode => '451', count => 1 });
($s, $code) = smtp_send('t451@example.com');
is($code, 451, 'SMTP 451: transient failure');
is((smtp($s, 'MAIL FROM:<a@example.com>'))[0], 250,
   'SMTP 451: the session goes on');
close $s;
control('fail', { provider => 'smtp', mode => '550', count => 1 });
($s, $code) = smtp_send('t550@example.com');
is($code, 550, 'SMTP 550: permanent failure');
close $s;
control('fail', { provider => 'smtp', mode => '421', count => 1 });
($s, $code) = smtp_send('t421@example.com');
is($code, 421, 'SMTP 421');
is((smtp_reply($s))[0], 'closed', 'SMTP 421: the connection is closed');
close $s;
control('fail', { provider => 'smtp', mode => 'drop', count => 1 });
($s, $code) = smtp_send('tdrop@example.com');
is($code, 'closed', 'SMTP drop: closed without a reply');
close $s;
is(scalar(grep { $_->{to}[0] =~ /^t(?:451|550|421|drop)\@/ }
           @{ $t->esp_messages }),
   0, 'SMTP faults: nothing kept');
($s, $code) = smtp_send('after@example.com');
is($code, 250, 'SMTP: back to normal');
close $s;

my $stats = control('stats', undef, 'GET')->json;
is($stats->{sendgrid}{fault_5xx}, 1, 'stats: sendgrid 5xx');
is($stats->{sendgrid}{auth_failed}, 2, 'stats: sendgrid auth failures');
is($stats->{postmark}{fault_429}, 1, 'stats: postmark 429');
is($stats->{brevo}{fault_drop}, 1, 'stats: brevo drop');
is($stats->{brevo}{duplicate}, 1, 'stats: brevo duplicate');
is($stats->{mailgun}{fault_auth}, 1, 'stats: mailgun auth');
is($stats->{unisender_go}{fault_5xx}, 2, 'stats: unisender_go 5xx');
is($stats->{generic}{fault_slow}, 1, 'stats: generic slow');
is($stats->{smtp}{fault_451}, 1, 'stats: smtp 451');
is($stats->{smtp}{accepted}, 2, 'stats: smtp accepted');

# --------------------------------------------------------- mailbox page

post_json('/json/send', { from => 'shop@example.com',
                          to => ['page@example.com'],
                          subject => 'Hi <b>Anna</b> & "you"',
                          html => '<p class="promo">Code <b>KETTLE10</b></p>',
                          text => "Code: KETTLE10 <not a tag>" },
          ['Authorization', 'Bearer test-key']);
my ($page_letter) = @{ $t->esp_messages(to => 'page@example.com') };
$r = req(path => '/');
is($r->status, 200, 'mailbox page: 200');
like($r->header('Content-Type'), qr{^text/html}, 'mailbox page: HTML');
like($r->header('Content-Security-Policy'), qr/default-src 'none'/,
     'mailbox page: a strict CSP');
my $page = $r->body;
like($page, qr/Hi &lt;b&gt;Anna&lt;\/b&gt; &amp; &quot;you&quot;/,
     'mailbox page: the subject, escaped');
unlike($page, qr/<b>Anna/, 'mailbox page: never raw');
my $srcdoc = 'srcdoc="&lt;p class=&quot;promo&quot;&gt;Code '
           . '&lt;b&gt;KETTLE10&lt;/b&gt;&lt;/p&gt;"';
like($page, qr/<iframe sandbox[^>]* \Q$srcdoc\E>/,
     'mailbox page: the HTML part in a sandboxed frame, escaped for srcdoc');
unlike($page, qr/<p class="promo">/,
       'mailbox page: the letter\'s HTML never raw');
like($page, qr/<pre>Code: KETTLE10 &lt;not a tag&gt;<\/pre>/,
     'mailbox page: the text part');
like($page, qr/Hello, World!/, 'mailbox page: lists the other letters');
$r = req(path => "/?id=$all->[0]{id}");
like($r->body, qr/<h2>Hello, World!<\/h2>/,
     'mailbox page: ?id= shows that letter');

# ------------------------------------------------------------- webhooks

# a listener in a child: each request it gets goes to TMP/hook.N
my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
    Proto => 'tcp', Listen => 5, ReuseAddr => 1) or die "listen: $!";
my $hook_port = $listen->sockport;
my $hooks = 5;
my $child = fork // die "fork: $!";
if ($child == 0) {
    for my $n (1 .. $hooks) {
        my $c = $listen->accept or last;
        binmode $c;
        my $raw = '';
        $raw .= $_ while defined($_ = <$c>) && $_ ne "\r\n";
        my ($len) = $raw =~ /^Content-Length:\s*(\d+)/mi;
        my $body = '';
        read($c, $body, $len // 0);
        $t->write_file("hook.$n", "$raw\r\n$body");
        print $c "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
            . "Connection: close\r\n\r\n";
        close $c;
    }
    _exit(0);
}
close $listen;

my $hook_n = 0;
sub webhook {
    my (%o) = @_;
    my $r = control('webhook',
                    { url => "http://127.0.0.1:$hook_port/hook", %o });
    is($r->status, 200, "webhook $o{provider} $o{event}: sent");
    is($r->json->{status}, 200, "webhook $o{provider} $o{event}: delivered");
    my ($head, $body) = split /\r\n\r\n/, $t->read_file('hook.' . ++$hook_n), 2;
    my %h;
    for (split /\r\n/, $head) { $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/ }
    return (\%h, $body);
}

# SendGrid: ECDSA over timestamp + body, checked by openssl
my ($h, $body) = webhook(provider => 'sendgrid', event => 'delivered',
                         message_id => $sg_id);
my $key = control('sendgrid-public-key', undef, 'GET')->json;
if ($sg_vector) {
    my ($vec) = grep { $_->{test_private_key} }
        @{ json_decode($t->read_file($sg_vector))->{vectors} };
    is($key->{public_key}, $vec->{public_key},
       'SendGrid webhook: the test key\'s public half is the published one');
}
$t->write_file('sg.pem', $key->{pem});
$t->write_file('sg.sig',
               decode_base64($h->{'x-twilio-email-event-webhook-signature'}));
sub sg_verify {
    my ($data) = @_;
    my $f = $t->write_file('sg.data', $data);
    my $d = $t->dir;
    my $cmd = "openssl dgst -sha256 -verify $d/sg.pem -signature $d/sg.sig";
    my $out = `$cmd $f 2>&1`;
    return $out =~ /^Verified OK/;
}
ok(sg_verify($h->{'x-twilio-email-event-webhook-timestamp'} . $body),
   'SendGrid webhook: the signature verifies with openssl');
ok(!sg_verify($h->{'x-twilio-email-event-webhook-timestamp'} . $body . ' '),
   'SendGrid webhook: and not over other bytes');
like($body, qr/\]\r\n\z/, 'SendGrid webhook: a JSON array and CRLF');
my $ev = json_decode($body)->[0];
is($ev->{event}, 'delivered', 'SendGrid webhook: event');
is($ev->{email}, 'john.doe@example.com', 'SendGrid webhook: email');
like($ev->{sg_message_id}, qr/^\Q$sg_id\E\./,
     'SendGrid webhook: sg_message_id');
is($ev->{chain}, 'welcome', 'SendGrid webhook: custom_args at the top level');

# Mailgun: HMAC-SHA256 of timestamp + token with the signing key
($h, $body) = webhook(provider => 'mailgun', event => 'bounce',
                      message_id => $mg->{id}, recipient => 'bar@example.com');
my $mgw = json_decode($body);
my $sig = $mgw->{signature};
is($sig->{signature},
   hmac_sha256_hex($sig->{timestamp} . $sig->{token}, 'mg-signing'),
   'Mailgun webhook: signed with the signing key');
is($mgw->{'event-data'}{event}, 'failed',
   'Mailgun webhook: a bounce is failed');
is($mgw->{'event-data'}{severity}, 'permanent', 'Mailgun webhook: permanent');
(my $bare = $mg->{id}) =~ s/^<|>$//g;
is($mgw->{'event-data'}{message}{headers}{'message-id'}, $bare,
   'Mailgun webhook: message-id without brackets');
is_deeply($mgw->{'event-data'}{'user-variables'}, { chain => 'cart' },
          'Mailgun webhook: user-variables');

# Postmark: no signature; basic auth from the URL
my $r2 = control('webhook', {
    provider => 'postmark', event => 'delivered',
    message_id => $pm->{MessageID},
    url => "http://hook:pw\@127.0.0.1:$hook_port/pm" });
is($r2->json->{status}, 200, 'Postmark webhook: delivered');
my ($pm_head, $pm_body) =
    split /\r\n\r\n/, $t->read_file('hook.' . ++$hook_n), 2;
my $pm_basic = encode_base64('hook:pw', '');
like($pm_head, qr/^Authorization: Basic \Q$pm_basic\E\r?$/mi,
     'Postmark webhook: basic auth from the URL');
my $pmw = json_decode($pm_body);
is($pmw->{RecordType}, 'Delivery', 'Postmark webhook: RecordType');
is($pmw->{MessageID}, $pm->{MessageID}, 'Postmark webhook: MessageID');
is_deeply($pmw->{Metadata}, { chain => 'browse' },
          'Postmark webhook: Metadata');

# Brevo
($h, $body) = webhook(provider => 'brevo', event => 'click',
                      message_id => $brevo_id,
                      link => 'https://shop.example/p/1');
my $bw = json_decode($body);
is($bw->{event}, 'click', 'Brevo webhook: event');
is($bw->{'message-id'}, $brevo_id, 'Brevo webhook: message-id');
is($bw->{link}, 'https://shop.example/p/1', 'Brevo webhook: link');
is($bw->{email}, 'example2@brevo.com', 'Brevo webhook: email');

# UniSender Go: MD5 of the raw body with auth replaced by the API key
($h, $body) = webhook(provider => 'unisender_go', event => 'click',
                      message_id => $ugo_job,
                      link => 'https://shop.example/p/2');
my $uw = json_decode($body);
(my $with_key = $body) =~ s/\Q$uw->{auth}\E/test-key/;
is(md5_hex($with_key), $uw->{auth}, 'UniSender Go webhook: the auth MD5');
like($body, qr{https:\\/\\/shop\.example\\/p\\/2},
     'UniSender Go webhook: escaped slashes');
my $ued = $uw->{events_by_user}[0]{events}[0]{event_data};
is($ued->{status}, 'clicked', 'UniSender Go webhook: status');
is($ued->{job_id}, $ugo_job, 'UniSender Go webhook: job_id');
is($ued->{metadata}{letter}, '42', 'UniSender Go webhook: metadata');

is(waitpid($child, 0), $child, 'the listener got every webhook');
is(control('webhook', { provider => 'brevo', event => 'open',
                        message_id => 'nope',
                        url => "http://127.0.0.1:$hook_port/" })->status,
   404, 'webhook: an unknown message is a 404');
is(control('webhook', { provider => 'brevo', event => 'open',
                        message_id => $brevo_id,
                        url => 'http://example.com/hook' })->status,
   400, 'webhook: loopback targets only');

# ----------------------------------------------------- clear, persist, stop

is(req(method => 'DELETE', path => '/messages')->status, 200,
   'DELETE /messages');
is_deeply($t->esp_messages, [], 'no letters left');
$r = post_json('/json/send', $generic, ['Authorization', 'Bearer test-key'],
               ['Idempotency-Key', 'gen-1']);
isnt($r->json->{id}, $gen_id, 'idempotency keys are forgotten too');

ok($t->stop_esp, 'exits with 0 on SIGTERM');

my $data = $t->dir . '/esp-data';
$t->start_esp(args => ['--data', $data]);
post_json('/json/send', $generic, ['Authorization', 'Bearer test-key']);
ok($t->stop_esp, 'stopped');
$t->start_esp(args => ['--data', $data]);
is(scalar @{ $t->esp_messages(to => 'gen@example.com') }, 1,
   '--data: letters survive a restart');
my @lines = split /\n/, $t->read_file("$data/messages.jsonl");
is(scalar @lines, 1, '--data: one JSON line per letter');

$t->done;
