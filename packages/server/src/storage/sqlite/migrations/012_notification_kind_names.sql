-- Names for people of a registered notification kind, so that an inbox shows "Lab result"
-- instead of LAB_RESULT_PUSH: one for any language, and per language tag as a JSON object
-- ({"en": "Lab result", "zh-CN": "化验结果"}). NULL: none given.
ALTER TABLE notification_kinds ADD COLUMN display_name TEXT;
ALTER TABLE notification_kinds ADD COLUMN display_names TEXT;
