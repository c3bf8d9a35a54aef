-- Each tenant's number of users (the system user not counted), kept by triggers on `users`:
-- a tenant broadcast reports how many it reaches without counting 100,000 rows in the
-- writer's transaction.
ALTER TABLE tenants ADD COLUMN user_count INTEGER NOT NULL DEFAULT 0;

UPDATE tenants SET user_count = (SELECT COUNT(*) FROM users u WHERE u.tenant_id = tenants.id AND u.role <> 'system');

CREATE TRIGGER users_count_insert AFTER INSERT ON users WHEN NEW.role <> 'system'
BEGIN
  UPDATE tenants SET user_count = user_count + 1 WHERE id = NEW.tenant_id;
END;

CREATE TRIGGER users_count_role AFTER UPDATE OF role ON users WHEN (OLD.role = 'system') <> (NEW.role = 'system')
BEGIN
  UPDATE tenants SET user_count = user_count + (CASE WHEN NEW.role = 'system' THEN -1 ELSE 1 END) WHERE id = NEW.tenant_id;
END;

CREATE TRIGGER users_count_delete AFTER DELETE ON users WHEN OLD.role <> 'system'
BEGIN
  UPDATE tenants SET user_count = user_count - 1 WHERE id = OLD.tenant_id;
END;
