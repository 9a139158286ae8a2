"""Stable error codes of customer service.

Field codes name what is wrong with one field of a request (the ``code`` of an entry of a
problem's ``errors``); clients branch on them, so a code never changes meaning once
published. Whole-response problems reuse the kernel's codes (``bankcrm.core.error_codes``).
"""

from __future__ import annotations

# --- Opening and changing a case -------------------------------------------------------------
CASE_TYPE_UNKNOWN = "case_type_unknown"
CASE_CHANNEL_UNKNOWN = "case_channel_unknown"
CASE_PRIORITY_UNKNOWN = "case_priority_unknown"
CASE_QUEUE_UNKNOWN = "case_queue_unknown"
CASE_LANGUAGE_UNKNOWN = "case_language_unknown"
CASE_FIELD_REQUIRED = "case_field_required"
CASE_FIELD_TOO_LONG = "case_field_too_long"
CASE_FIELD_INVALID = "case_field_invalid"
CASE_CUSTOMER_OUT_OF_REACH = "case_customer_out_of_reach"
CASE_ASSIGNEE_INVALID = "case_assignee_invalid"
CASE_RECEIVED_IN_FUTURE = "case_received_in_future"
CASE_COMPLAINT_INVALID = "case_complaint_invalid"
CASE_MESSAGE_DUPLICATE = "case_message_duplicate"
CASE_CHANGE_UNKNOWN = "case_change_unknown"
CASE_REFERENCE_BUSY = "case_reference_busy"

# --- Merging and linking ---------------------------------------------------------------------
CASE_MERGED = "case_merged"
CASE_MERGE_SELF = "case_merge_self"
CASE_MERGE_OTHER_CUSTOMER = "case_merge_other_customer"
CASE_MERGE_COMPLAINT = "case_merge_complaint"
CASE_LINK_KIND_UNKNOWN = "case_link_kind_unknown"
CASE_LINK_NEEDS_CUSTOMER = "case_link_needs_customer"
CASE_LINK_OUT_OF_REACH = "case_link_out_of_reach"
CASE_LINK_EXISTS = "case_link_exists"

# --- Reading ---------------------------------------------------------------------------------
CASE_CURSOR_INVALID = "case_cursor_invalid"
CASE_FILTER_INVALID = "case_filter_invalid"
