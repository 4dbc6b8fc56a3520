// Kettle & Leaf: the page side of the demo shop.
//
// The module keeps each visitor's cart in Redis, for the shop's triggers
// (abandoned carts, offers, ...).  It tells pages how many items there are
// ($trigger_cart_qty), not which: a shop renders its cart from its own
// backend.  This shop has none, so the browser keeps a copy of the lines
// (localStorage) just to list them.
//
// Removing a line uses the module's JSON event endpoint (integration
// path 3): POST /_trigger/events {"type":"cart_remove","sku":"..."}.

(function () {
    'use strict';

    const KEY = 'kettle-leaf-cart';

    const load = () => {
        try {
            return JSON.parse(localStorage.getItem(KEY)) || {};
        } catch (e) {
            return {};
        }
    };
    const save = (cart) => localStorage.setItem(KEY, JSON.stringify(cart));
    const money = (n) => n.toFixed(2);
    const $ = (id) => document.getElementById(id);

    const setBadge = (qty) => {
        const badge = $('cart-qty');
        if (badge) {
            badge.textContent = qty;
        }
    };

    // One event to the module; resolves to its JSON answer.
    const send = (event) =>
        fetch('/_trigger/events', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(event)
        }).then((res) => res.json().catch(() => ({
            ok: false, error: 'HTTP ' + res.status
        })));

    const lines = () => Object.entries(load());
    const total = () => lines().reduce((t, [, l]) => t + l.price * l.qty, 0);

    const lineItem = (sku, line, withRemove) => {
        const li = document.createElement('li');

        const img = document.createElement('img');
        img.src = '/assets/img/' + encodeURIComponent(sku) + '.svg';
        img.alt = '';

        const name = document.createElement('a');
        name.className = 'name';
        name.href = '/product/' + encodeURIComponent(sku);
        name.textContent = line.name;

        const qty = document.createElement('span');
        qty.textContent = line.qty + ' × €' + money(line.price);

        const sum = document.createElement('span');
        sum.className = 'price';
        sum.textContent = '€' + money(line.qty * line.price);

        li.append(img, name, qty, sum);

        if (withRemove) {
            const remove = document.createElement('button');
            remove.className = 'quiet';
            remove.textContent = 'Remove';
            remove.addEventListener('click', () => removeLine(sku));
            li.append(remove);
        }

        return li;
    };

    // --- product page: remember the line; the form itself goes to
    //     /cart/add, where nginx's configuration records the event

    const buy = document.querySelector('form.buy');

    if (buy) {
        buy.addEventListener('submit', () => {
            const cart = load();
            const sku = buy.elements.sku.value;
            const line = cart[sku] || {
                name: buy.dataset.name,
                price: parseFloat(buy.dataset.price),
                qty: 0
            };

            line.qty = Math.min(line.qty + (parseInt(buy.elements.qty.value, 10) || 1), 999);
            cart[sku] = line;
            save(cart);
        });
    }

    // --- cart page

    const cartList = $('cart-lines');

    const message = (text) => {
        const box = $('cart-message');
        if (box) {
            box.textContent = text;
        }
    };

    const afterEvent = (answer) => {
        if (answer.ok && answer.visitor) {
            setBadge(answer.visitor.cart_qty);
            const server = $('server-qty');
            if (server) {
                server.textContent = answer.visitor.cart_qty;
            }
            return true;
        }

        message(answer.ok ? 'Not tracked (' + answer.reason + ').'
                          : 'The shop could not update your cart: '
                            + answer.error + '.');
        return answer.ok;
    };

    function renderCart() {
        const all = lines();

        cartList.textContent = '';
        for (const [sku, line] of all) {
            cartList.append(lineItem(sku, line, true));
        }

        $('cart-total').textContent = '€' + money(total());
        $('cart-full').hidden = all.length === 0;
        $('cart-empty').hidden = all.length !== 0;
    }

    function removeLine(sku) {
        send({ type: 'cart_remove', sku: sku }).then((answer) => {
            if (afterEvent(answer)) {
                const cart = load();
                delete cart[sku];
                save(cart);
                renderCart();
            }
        }).catch((e) => message('Network error: ' + e.message));
    }

    if (cartList) {
        renderCart();

        $('cart-clear').addEventListener('click', () => {
            send({ type: 'cart_clear' }).then((answer) => {
                if (afterEvent(answer)) {
                    save({});
                    renderCart();
                }
            }).catch((e) => message('Network error: ' + e.message));
        });
    }

    // --- checkout: the shop would price the order; here the browser does

    const checkout = document.querySelector('form.checkout');

    if (checkout) {
        const list = $('checkout-lines');
        const all = lines();

        for (const [sku, line] of all) {
            list.append(lineItem(sku, line, false));
        }

        $('checkout-total').textContent = '€' + money(total());
        checkout.elements.amount.value = money(total());
        checkout.elements.order.value = 'KL-' + Date.now().toString(36).toUpperCase();

        if (all.length === 0) {
            $('checkout-empty').hidden = false;
            checkout.querySelector('button').disabled = true;
        }
    }

    // --- order confirmation: the purchase emptied the cart in Redis
    //     (after this page's badge was filled in, hence the 0)

    if ($('order-done')) {
        save({});
        setBadge(0);
    }
})();
