-- A tenant setting: whether a patient may open a conversation with another patient
-- (0: no, the default — patients reach their care team; 1: the integrator allows it).
ALTER TABLE tenant_settings ADD COLUMN patient_to_patient INTEGER NOT NULL DEFAULT 0;
