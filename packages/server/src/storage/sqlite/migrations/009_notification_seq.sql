-- The tenant's notification sequence: 1, 2, 3… in commit order, unique per tenant. The Hub
-- delivers a tenant's notifications in this order and reads the ones whose event it missed
-- (`since`). Existing rows are numbered per tenant in id order (ids follow commit order on
-- the one writer that stored them).
ALTER TABLE notifications ADD COLUMN tenant_seq INTEGER NOT NULL DEFAULT 0;

UPDATE notifications SET tenant_seq = o.s
  FROM (SELECT tenant_id, id, ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY id) AS s FROM notifications) AS o
 WHERE notifications.tenant_id = o.tenant_id AND notifications.id = o.id;

CREATE UNIQUE INDEX notifications_tenant_seq ON notifications (tenant_id, tenant_seq);

-- `since` lists each notification's recipients.
CREATE INDEX notification_recipients_notification ON notification_recipients (tenant_id, notification_id);
