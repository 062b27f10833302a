#!/usr/bin/env bash
# The Instacart Connect shopper-customer chat tutorial in curl, prerequisites included:
#
#   before you begin   the retailer's token, a customer, the delivery slots for a cart, a hold on one,
#                      a delivery order, and the customer's user access token
#   simulate shopping  create a shopper, batch the order to them, advance the batch to picking
#   the chat           get the conversation (the shopper's message), send a customer message with
#                      text and an image, mark the shopper's messages read, get the conversation again
#
# Against `shopper-chat serve` (its defaults):  examples/curl_walkthrough.sh
# Against your Instacart development server:    export CONNECT_BASE_URL, CONNECT_CLIENT_ID and
#                                               CONNECT_CLIENT_SECRET, then run it
#
# Settings (environment):
#   CONNECT_BASE_URL       default http://127.0.0.1:8765 (what `shopper-chat serve` listens on)
#   CONNECT_CLIENT_ID      with CONNECT_CLIENT_SECRET; both unset: the development server's local
#   CONNECT_CLIENT_SECRET  ones (shopper-chat-local / shopper-chat-local-secret); one alone: exit 2
#   USER_ID, ORDER_ID      the customer and order to create (default: new ids for each run)
#
# Each step prints its request and the answer, shortened, with every token, secret, assertion and
# password replaced by [hidden]; no secret or token is ever on a command line (curl reads the
# Authorization header and the body from a pipe). The first failing step ends the script with one
# line on stderr naming it, and exit status 1 (2: bad settings or a missing tool).
# Needs bash, curl (7.76 or later, for --fail-with-body) and jq.
set -Eeuo pipefail

me=$(basename "$0")
die() { echo "$me: $1" >&2; exit "${2:-1}"; }  # die MESSAGE [STATUS]
uri() { jq -rn --arg v "$1" '$v | @uri'; }      # an id as a path segment

for tool in curl jq; do
  command -v "$tool" >/dev/null 2>&1 || die "needs $tool (Debian: apt-get install $tool)" 2
done

base_url=${CONNECT_BASE_URL:-http://127.0.0.1:8765}
base_url=${base_url%/}
[[ $base_url =~ ^https?://[^/]+ ]] \
  || die "CONNECT_BASE_URL must be an http(s) URL such as http://127.0.0.1:8765" 2
if [[ -n ${CONNECT_CLIENT_ID:-} && -n ${CONNECT_CLIENT_SECRET:-} ]]; then
  client_id=$CONNECT_CLIENT_ID client_secret=$CONNECT_CLIENT_SECRET
elif [[ -z ${CONNECT_CLIENT_ID:-} && -z ${CONNECT_CLIENT_SECRET:-} ]]; then
  client_id=shopper-chat-local client_secret=shopper-chat-local-secret
elif [[ -z ${CONNECT_CLIENT_ID:-} ]]; then
  die "CONNECT_CLIENT_SECRET is set but CONNECT_CLIENT_ID is not: set both, or neither" 2
else
  die "CONNECT_CLIENT_ID is set but CONNECT_CLIENT_SECRET is not: set both, or neither" 2
fi

run=$(printf '%04x%04x' "$RANDOM" "$RANDOM")
user_id=${USER_ID:-customer-$run}
order_id=${ORDER_ID:-order-$run}
user=$(uri "$user_id") order=$(uri "$order_id")  # as path segments
message="Hi, this is Sierra. Ripe bananas, please."
image_url="https://example.com/ripe-bananas.jpg"

# What gets printed: secrets hidden, long texts (a picture as a data: URL) and lists cut short.
readonly SHORTEN='walk(
  if type == "object" then with_entries(
    if (.key | test("^(access_token|client_secret|assertion|password)$")) then .value = "[hidden]"
    else . end)
  elif type == "string" and length > 80 then .[:77] + "..."
  elif type == "array" and length > 3 then .[:2] + ["... \(length - 2) more"]
  else . end)'

step=""
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
trap 'echo "$me: stopped at line $LINENO (step \"$step\")" >&2' ERR

# The Authorization header, read by curl from a pipe (nothing when TOKEN is "-").
authorization() { [[ $1 == - ]] || printf 'Authorization: Bearer %s\n' "$1"; }

# call STEP METHOD PATH TOKEN [JSON]: print the request, send it, print the answer; the answer's
# body is left in $answer. TOKEN "-" sends no Authorization header.
call() {
  step=$1
  local method=$2 path=$3 token=$4 body=${5-} status
  printf '\n== %s\n-> %s %s' "$step" "$method" "$path"
  [[ -z $body ]] || printf ' %s' "$(jq -c "$SHORTEN" <<<"$body")"
  echo
  if ! answer=$(printf '%s' "$body" | curl --silent --show-error --fail-with-body --max-time 30 \
      --request "$method" --header "Accept: application/json" \
      --header @<(authorization "$token") \
      ${body:+--header "Content-Type: application/json" --data-binary @-} \
      --write-out '\n%{http_code}' "$base_url$path" 2>"$errors"); then
    status=${answer##*$'\n'}
    if [[ $status =~ ^[0-9]{3}$ && $status != 000 ]]; then
      answer=${answer%$'\n'*}
      die "step \"$step\" failed: $method $path answered $status $(jq -c "$SHORTEN" \
        <<<"$answer" 2>/dev/null || echo "$answer")"
    fi
    local why
    why=$(head -n 1 "$errors")
    [[ $why != *"Failed to connect"* ]] || why+=" (is the server running?)"
    die "step \"$step\" failed: no answer from $base_url: $why"
  fi
  status=${answer##*$'\n'}
  answer=${answer%$'\n'*}
  printf '<- %s %s\n' "$status" "$(jq -c "$SHORTEN" <<<"$answer")"
}

echo "Connect chat tutorial against $base_url (client id $client_id; customer $user_id, order $order_id)"

# --- Before you begin: the retailer's token, then a customer and a delivery order ---
call "retailer token (client_credentials)" POST /v2/oauth/token - "$(jq -nc \
  --arg id "$client_id" --arg secret "$client_secret" \
  '{client_id: $id, client_secret: $secret, grant_type: "client_credentials",
    scope: "connect:fulfillment"}')"
retailer_token=$(jq -er .access_token <<<"$answer")

call "create the customer" POST /v2/fulfillment/users "$retailer_token" "$(jq -nc \
  --arg user "$user_id" '{user_id: $user, first_name: "Sierra", last_name: "Smith"}')"

address='{"address_line_1": "100 Main Street", "address_line_2": "Apt 4", "postal_code": "94105"}'
items='[{"line_num": "1", "count": 6, "item": {"upc": "000000004011"}},
        {"line_num": "2", "count": 1, "item": {"upc": "070038000563"}}]'
call "delivery slots for the cart" POST "/v2/fulfillment/users/$user/service_options/cart/delivery" \
  "$retailer_token" "$(jq -nc --argjson address "$address" --argjson items "$items" \
  '{address: $address, items: $items}')"
service_option_id=$(jq -er '.service_options[0].id' <<<"$answer") \
  || die "step \"$step\" failed: the server offered no delivery slot"

call "hold the first slot" POST \
  "/v2/fulfillment/users/$user/service_options/$service_option_id/reserve" "$retailer_token" '{}'
hold_id=$(jq -er .service_option_hold.id <<<"$answer")

call "create the delivery order" POST "/v2/fulfillment/users/$user/orders/delivery" \
  "$retailer_token" "$(jq -nc --arg order "$order_id" --argjson hold "$hold_id" \
  --argjson address "$address" --argjson items "$items" \
  '{order_id: $order, service_option_hold_id: $hold, initial_tip_cents: 0,
    address: $address, items: $items}')"

# The customer's user access token: the assertion is Base64 of {"user_id": "..."}.
assertion=$(jq -nc --arg user "$user_id" '{user_id: $user}' | base64 | tr -d '\n')
call "user access token (fulfillment_user_assertion)" POST /v2/oauth/token - "$(jq -nc \
  --arg id "$client_id" --arg secret "$client_secret" --arg assertion "$assertion" \
  '{client_id: $id, client_secret: $secret, grant_type: "fulfillment_user_assertion",
    scope: "connect:post_checkout", assertion: $assertion}')"
user_token=$(jq -er .access_token <<<"$answer")

# --- Simulate shopping (Sandbox API, with the retailer's token) ---
call "create a shopper" POST /v2/fulfillment_sandbox/shoppers "$retailer_token" "$(jq -nc \
  --arg email "shopper-$run@example.com" --arg phone "555$(printf '%07d' $((RANDOM * 300)))" \
  --arg password "shopper-$run-$RANDOM" '{email: $email, phone: $phone, password: $password}')"
shopper_id=$(jq -er .id <<<"$answer")

call "generate a batch" POST /v2/fulfillment_sandbox/batches "$retailer_token" "$(jq -nc \
  --argjson shopper "$shopper_id" --arg order "$order_id" --arg user "$user_id" \
  '{batch_type: "delivery", shopper_id: $shopper, orders: [{id: $order, user_id: $user}]}')"
batch_id=$(jq -er .id <<<"$answer")

call "advance the batch to picking" POST "/v2/fulfillment_sandbox/batches/$batch_id/advance" \
  "$retailer_token" '{"workflow_state": "picking"}'

# --- The chat, with the customer's user access token ---
# The shopper's message: `shopper-chat serve`'s scripted shopper greets at picking; on a real
# server, your Instacart representative writes it (fetch again until it is there).
call "retrieve the messages" GET "/v2/post_checkout/chat/$order/messages" "$user_token"
echo "   $(jq '.chat_messages | length' <<<"$answer") message(s) so far"

call "send a message to the shopper" POST "/v2/post_checkout/chat/$order/messages" \
  "$user_token" "$(jq -nc --arg body "$message" --arg image "$image_url" \
  '{body: $body, image_url: $image}')"

call "mark the messages read" PUT "/v2/post_checkout/chat/$order/messages" "$user_token"

call "the conversation now" GET "/v2/post_checkout/chat/$order/messages" "$user_token"
jq -r '.chat_messages[] | "   \(if .sender_type == "user" then "customer" else "shopper " end)  \(.body)\(if .image != "" then "  [picture]" else "" end)"' <<<"$answer"
jq -e --arg body "$message" 'any(.chat_messages[]; .sender_type == "user" and .body == $body)' \
  <<<"$answer" >/dev/null || die "step \"$step\" failed: the customer's message is not in the conversation"

echo
echo "done: order $order_id, shopper $shopper_id, batch $batch_id"
