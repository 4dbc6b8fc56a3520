#!/usr/bin/perl
# The widget served from memory is widget/widget.js as committed
# (minified, and gzipped: t/70-offer.t checks what is served), and it is
# ASCII.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);

my $dir = tempdir(CLEANUP => 1);

system('util/embed-widget', 'widget/widget.js', "$dir/widget_js.h") == 0
    or BAIL_OUT('util/embed-widget failed');

sub slurp { open my $fh, '<:raw', $_[0] or die "$_[0]: $!"; local $/; <$fh> }

my $fresh = slurp("$dir/widget_js.h");
my $committed = slurp('src/ngx_http_trigger_widget_js.h');
is $committed, $fresh,
    'src/ngx_http_trigger_widget_js.h is current (run util/embed-widget)';

my $js = slurp('widget/widget.js');
unlike $js, qr/[^\x00-\x7f]/, 'widget.js is ASCII';

done_testing;
