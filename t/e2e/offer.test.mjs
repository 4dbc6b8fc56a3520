// The offer in a real browser, through the demo shop: Debian's Chromium
// driven by playwright-core.  t/81-browser.t starts Redis, the local ESP
// (esp/fake-esp) and nginx with examples/nginx.conf and gives the shop's
// address in BASE_URL, the ESP's in ESP_URL.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const base = process.env.BASE_URL;
const esp = process.env.ESP_URL;
const shots = process.env.SHOTS_DIR;
const docs = process.env.DOCS_IMG_DIR;
const codeRe = /^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$/;

// "HeadlessChrome" is on the module's bot list: browse as a browser
const desktopUA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 '
    + '(KHTML, like Gecko) Chrome/124.0 Safari/537.36';
const mobileUA = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 '
    + '(KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36';

let browser;

before(async () => {
    mkdirSync(shots, { recursive: true });
    if (docs) mkdirSync(docs, { recursive: true });
    browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
               '--disable-background-networking', '--disable-component-update',
               '--disable-sync', '--no-first-run', '--disable-quic'],
    });
});

after(async () => { await browser?.close(); });

async function shot(page, name) {
    await page.screenshot({ path: `${shots}/${name}.png` });
    if (docs) await page.screenshot({ path: `${docs}/${name}.png` });
}

const hasBootstrap = (page) =>
    page.evaluate(() => document.getElementById('trg-offer') !== null);

// the dialog lives in the widget's shadow root
const dialog = (page) => page.locator('#trg-widget-host [role=dialog]');

// three pages and a cart line, past the demo's minimum duration (2 s in
// the test's copy of the configuration)
async function becomeEligible(page) {
    await page.goto(base + '/');
    await page.goto(base + '/product/KETTLE-GOOSE');
    await page.click('form.buy button[type=submit]');
    await page.waitForURL(/\/cart$/);
    await page.goto(base + '/product/DRIP-V60');
    await page.waitForTimeout(2200);
    await page.goto(base + '/');
    assert.ok(await hasBootstrap(page), 'the page carries the offer');
    const offer = await page.evaluate(
        () => JSON.parse(document.getElementById('trg-offer').textContent));
    // the widget arms exit intent after its delay
    await page.waitForTimeout(offer.delay * 1000 + 300);
    return offer;
}

// the letters the ESP took for this address, once there are some
async function lettersTo(email) {
    for (let i = 0; i < 100; i++) {
        const res = await fetch(`${esp}/messages?to=${encodeURIComponent(email)}`);
        const letters = await res.json();
        if (letters.length) return letters;
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return [];
}

async function leaveThroughTheTop(page) {
    await page.mouse.move(640, 300);
    await page.mouse.move(640, 20, { steps: 4 });
    await page.mouse.move(640, -20, { steps: 2 });
}

test('desktop: exit intent, the cart item, an email, a code', async () => {
    const context = await browser.newContext({
        userAgent: desktopUA, viewport: { width: 1280, height: 800 },
    });
    const page = await context.newPage();

    const offer = await becomeEligible(page);
    assert.equal(offer.items[0].sku, 'KETTLE-GOOSE', 'the cart item first');

    await leaveThroughTheTop(page);
    const d = dialog(page);
    await d.waitFor({ state: 'visible', timeout: 10000 });

    const first = d.locator('.trg-item').first();
    await assert.doesNotReject(first.waitFor());
    assert.match(await first.textContent(), /Gooseneck kettle/);
    await shot(page, 'widget-desktop');

    await d.locator('input[type=email]').fill('ann@example.com');
    await d.locator('input[type=checkbox]').check();
    await d.locator('button[type=submit]').click();

    const code = d.locator('.trg-code');
    await code.waitFor({ state: 'visible', timeout: 10000 });
    const shown = (await code.textContent()).trim();
    assert.match(shown, codeRe);
    await shot(page, 'widget-success');

    // an active code: no new offer
    await page.goto(base + '/product/MUG-STONE');
    assert.equal(await hasBootstrap(page), false, 'no offer while a code is active');

    // the chain's first letter, at once, with the code the widget showed
    const [letter] = await lettersTo('ann@example.com');
    assert.ok(letter, 'the offer letter reached the ESP');
    assert.match(letter.subject, new RegExp(`: ${shown}$`));
    assert.ok(letter.html.includes(`>${shown}</div>`), 'the code in the HTML part');
    assert.ok(letter.text.includes(`Your code: ${shown}\n`), 'and in the text part');
    assert.ok(letter.html.includes(`href="${base}/product/KETTLE-GOOSE"`),
              'the cart item, linked to the shop');

    // as the mailbox page shows it: the letter's HTML in a frame, tall
    // enough for the first item
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${esp}/?id=${encodeURIComponent(letter.id)}`);
    const html = page.frameLocator('iframe[title="HTML part"]');
    await html.getByText(shown, { exact: true }).waitFor();
    assert.ok(await html.locator('img[alt="Gooseneck kettle"]').first().evaluate(
        (img) => img.decode().then(() => true, () => false)),
              "the item's picture, from the shop");
    await shot(page, 'mailbox');

    await context.close();
});

test('a visitor who says no thanks is not asked again', async () => {
    const context = await browser.newContext({
        userAgent: desktopUA, viewport: { width: 1280, height: 800 },
    });
    const page = await context.newPage();

    await becomeEligible(page);
    await leaveThroughTheTop(page);
    const d = dialog(page);
    await d.waitFor({ state: 'visible', timeout: 10000 });

    const declined = page.waitForResponse((r) => r.url().endsWith('/_trigger/decline'));
    await d.locator('.trg-decline').click();
    assert.equal((await declined).status(), 200);
    await d.waitFor({ state: 'hidden', timeout: 10000 });

    for (const path of ['/', '/product/TEA-SENCHA', '/cart']) {
        await page.goto(base + path);
        assert.equal(await hasBootstrap(page), false, `no offer on ${path}`);
    }

    await context.close();
});

test('mobile: the back button, the bottom sheet, a code', async () => {
    const context = await browser.newContext({
        userAgent: mobileUA, viewport: { width: 390, height: 844 },
        deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    });
    const page = await context.newPage();

    await becomeEligible(page);

    // the widget sets its history trap after the first interaction (a
    // tap on the heading: no link there)
    await page.waitForFunction(() => window.TriggerWidget);
    await page.tap('h1');
    await page.waitForTimeout(500);
    await page.goBack({ waitUntil: 'commit' }).catch(() => {});

    const d = dialog(page);
    await d.waitFor({ state: 'visible', timeout: 10000 });
    assert.match(await d.locator('.trg-item').first().textContent(),
                 /Gooseneck kettle/);
    await shot(page, 'widget-mobile');

    await d.locator('input[type=email]').fill('bob@example.com');
    await d.locator('input[type=checkbox]').check();
    await d.locator('button[type=submit]').click();

    const code = d.locator('.trg-code');
    await code.waitFor({ state: 'visible', timeout: 10000 });
    assert.match((await code.textContent()).trim(), codeRe);

    await context.close();
});

// A shop page may show its visitors' content, and with it elements with
// the widget's id: the widget reads only the offer the module put right
// before its own tag, and sends nothing to another origin.
test('the offer and the API are only the module\'s own', async () => {
    const context = await browser.newContext({
        userAgent: desktopUA, viewport: { width: 1280, height: 800 },
    });
    const foreign = [];
    await context.route(/evil\.example/, (route) => {
        foreign.push(route.request().url());
        return route.abort();
    });
    const page = await context.newPage();

    await becomeEligible(page);

    // the shop's front page, its HTML changed on the way by edit(html, offer)
    async function served(edit) {
        await page.route(base + '/', async (route) => {
            const res = await route.fetch();
            const html = await res.text();
            const offer = JSON.parse(html.match(/id="trg-offer">(.*?)<\/script>/s)[1]);
            await route.fulfill({ response: res, body: edit(html, offer) });
        });
        await page.goto(base + '/');
        await page.unroute(base + '/');
        await page.waitForFunction(() => window.TriggerWidget
                                         && document.readyState !== 'loading');
    }

    // the module's own offer names an API elsewhere: the widget does nothing
    await served((html) => html.replace('"api":"/_trigger/"',
                                        '"api":"//evil.example/_trigger/"'));
    assert.equal(await page.evaluate(() => TriggerWidget.open()), false,
                 'no offer with an API on another origin');

    // content with the widget's id before the module's offer, as a review
    // or a comment could carry it
    const fake = (offer) => JSON.stringify({ ...offer, api: 'https://evil.example/' });
    const hostile = [
        (offer) => `<div id="trg-offer" hidden>${
            fake(offer).replace(/&/g, '&amp;').replace(/</g, '&lt;')}</div>`,
        (offer) => `<script type="application/json" id="trg-offer">${
            fake(offer).replace(/</g, '\\u003c')}</script>`,
    ];
    const d = dialog(page);
    for (const content of hostile) {
        await served((html, offer) =>
            html.replace(/<body[^>]*>/, (tag) => tag + content(offer)));
        const shown = page.waitForRequest((r) => r.url().endsWith('/_trigger/events'));
        assert.equal(await page.evaluate(() => TriggerWidget.open()), true);
        assert.equal((await shown).url(), base + '/_trigger/events',
                     'the offer_shown event goes to the shop');
        await d.waitFor({ state: 'visible', timeout: 10000 });
    }

    // the form, too, goes to the shop's own API
    const subscribed = page.waitForResponse((r) => r.url().endsWith('/subscribe'));
    await d.locator('input[type=email]').fill('cat@example.com');
    await d.locator('input[type=checkbox]').check();
    await d.locator('button[type=submit]').click();
    const res = await subscribed;
    assert.equal(res.url(), base + '/_trigger/subscribe');
    assert.equal(res.status(), 200);
    await d.locator('.trg-code').waitFor({ state: 'visible', timeout: 10000 });

    assert.deepEqual(foreign, [], 'nothing sent to another origin');
    await context.close();
});
